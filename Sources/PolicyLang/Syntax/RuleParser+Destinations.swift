// The where of a rule (targets: host, ports, protocol) and of a test or request line (one
// address, one port, one protocol).
extension RuleParser {
    /// Splits `HOST:PORTS[/PROTO]`; an IPv6 host is written in brackets: `[fd00::/64]:443/tcp`.
    func parseTarget(_ t: RuleToken) throws(ParseFailure) -> Target {
        let word = t.text
        let hostText: Substring
        let hostOffset: Int
        let rest: Substring
        if word.hasPrefix("[") {
            guard let close = word.firstIndex(of: "]") else {
                throw failure("missing ']' after an IPv6 address", at: t)
            }
            hostText = word[word.index(after: word.startIndex)..<close]
            hostOffset = t.offset + 1
            rest = word[word.index(after: close)...]
        } else if let colon = word.firstIndex(of: ":") {
            hostText = word[..<colon]
            hostOffset = t.offset
            rest = word[colon...]
        } else {
            throw failure(
                "target '\(word)' has no ports", at: t, help: "write '\(word):*' for every port, or '\(word):443/tcp'")
        }
        let hostSpan = SourceSpan(base.advanced(by: hostOffset), length: hostText.count)
        let host = try parseHost(hostText, hostSpan, bracketed: word.hasPrefix("["))
        guard rest.hasPrefix(":"), rest.count > 1 else {
            throw failure(
                "target '\(word)' has no ports", at: t, help: "write '\(hostText):*' for every port, or add ':PORT'")
        }
        let portsOffset = t.offset + word.distance(from: word.startIndex, to: rest.startIndex) + 1
        let portsAndProto = rest.dropFirst()
        let split = portsAndProto.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let ports = try parsePorts(split[0], offset: portsOffset)
        var proto: TransportProtocol? = nil
        if split.count == 2 {
            let protoOffset = portsOffset + split[0].count + 1
            proto = try parseProtocol(split[1], SourceSpan(base.advanced(by: protoOffset), length: split[1].count))
            if proto == .icmp && ports != [.all] {
                throw ParseFailure(
                    .error(
                        .invalidPort, "ICMP has no ports", at: SourceSpan(base.advanced(by: portsOffset), length: split[0].count),
                        help: "write '\(hostText):*/icmp'"))
            }
        }
        return Target(host: Located(host, hostSpan), ports: ports, proto: proto)
    }

    func parseHost(_ text: Substring, _ sp: SourceSpan, bracketed: Bool) throws(ParseFailure) -> TargetHost {
        if text == "*" { return .any }
        if bracketed || text.first?.isNumber == true {
            return .prefix(try Self.parseCIDR(text, sp))
        }
        guard Names.isValid(text) else {
            throw ParseFailure(.error(.syntax, "'\(text)' is neither a host alias nor an address", at: sp))
        }
        return .alias(String(text))
    }

    /// Parses a CIDR or address, turning each failure into a located diagnostic.
    static func parseCIDR(_ text: Substring, _ sp: SourceSpan) throws(ParseFailure) -> IPPrefix {
        switch IPPrefix.parse(text) {
        case .success(let c): return c
        case .failure(.malformedAddress):
            throw ParseFailure(.error(.invalidAddress, "'\(text)' is not a valid IP address or CIDR", at: sp))
        case .failure(.badPrefixLength):
            throw ParseFailure(.error(.invalidAddress, "bad prefix length in '\(text)'", at: sp))
        case .failure(.hostBitsSet(let suggestion)):
            throw ParseFailure(
                .error(
                    .hostBitsSet, "'\(text)' has host bits set below its /\(suggestion.length) prefix", at: sp,
                    help: "did you mean '\(suggestion)'?"))
        }
    }

    func parsePorts(_ text: Substring, offset: Int) throws(ParseFailure) -> [PortRange] {
        if text == "*" { return [.all] }
        var ranges: [PortRange] = []
        var o = offset
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { o += piece.count + 1 }
            let sp = SourceSpan(base.advanced(by: o), length: piece.count)
            let bounds = piece.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let lo = Self.port(bounds[0]) else {
                throw ParseFailure(
                    .error(.invalidPort, "'\(piece)' is not a port (0-65535), a range like 80-90, or *", at: sp))
            }
            var hi = lo
            if bounds.count == 2 {
                guard let h = Self.port(bounds[1]) else {
                    throw ParseFailure(.error(.invalidPort, "'\(piece)' is not a valid port range", at: sp))
                }
                guard h >= lo else {
                    throw ParseFailure(
                        .error(.invalidPort, "port range '\(piece)' is reversed", at: sp, help: "write '\(h)-\(lo)'"))
                }
                hi = h
            }
            ranges.append(PortRange(lo, hi))
        }
        return ranges
    }

    static func port(_ s: Substring) -> UInt16? {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt32(s), v <= 65535
        else { return nil }
        return UInt16(v)
    }

    func parseProtocol(_ text: Substring, _ sp: SourceSpan) throws(ParseFailure) -> TransportProtocol {
        if let p = TransportProtocol(rawValue: String(text)) { return p }
        let guess = Suggest.closest(to: String(text), among: TransportProtocol.allCases.map(\.rawValue))
        throw ParseFailure(
            .error(
                .syntax, "unknown protocol '\(text)'", at: sp,
                help: guess.map { "did you mean '\($0)'?" } ?? "protocols are tcp, udp and icmp"))
    }

    func parseRequest(_ t: RuleToken) throws(ParseFailure) -> Request {
        let word = t.text
        guard let slash = word.lastIndex(of: "/") else {
            throw failure("destination '\(word)' needs a protocol", at: t, help: "write '\(word)/tcp'")
        }
        let protoText = word[word.index(after: slash)...]
        let protoSpan = SourceSpan(base.advanced(by: t.offset + word.distance(from: word.startIndex, to: slash) + 1), length: protoText.count)
        let proto = try parseProtocol(protoText, protoSpan)
        let left = word[..<slash]
        var addressText = left
        var addressOffset = t.offset
        var portText: Substring? = nil
        if left.hasPrefix("[") {
            guard let close = left.firstIndex(of: "]") else { throw failure("missing ']' after an IPv6 address", at: t) }
            addressText = left[left.index(after: left.startIndex)..<close]
            addressOffset += 1
            let after = left[left.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw failure("expected ':PORT' after ']'", at: t)
            }
        } else if let colon = left.firstIndex(of: ":") {
            addressText = left[..<colon]
            portText = left[left.index(after: colon)...]
        }
        let addressSpan = SourceSpan(base.advanced(by: addressOffset), length: addressText.count)
        guard let address = IPAddress(addressText) else {
            throw ParseFailure(.error(.invalidAddress, "'\(addressText)' is not a valid IP address", at: addressSpan))
        }
        var port: UInt16 = 0
        if proto == .icmp {
            if portText != nil { throw failure("ICMP has no ports: write '\(addressText)/icmp'", at: t, code: .invalidPort) }
        } else {
            guard let pt = portText, let p = Self.port(pt) else {
                throw failure("destination '\(word)' needs one port (0-65535)", at: t, code: .invalidPort)
            }
            port = p
        }
        return Request(address: address, port: port, proto: proto)
    }
}
