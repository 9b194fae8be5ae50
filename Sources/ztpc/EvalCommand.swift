import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc eval`: decide many requests.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Decide many requests, one a line, and print one decision a line.",
        discussion: """
            Each request line is IDENTITY -> DESTINATION [at TIME], for example \
            'alice-laptop -> 10.10.0.7:5432/tcp' or 'bob-phone -> [fd00:30::1]:80/tcp at 2026-11-23T09:00:00Z'. \
            IDENTITY is a name or a base64 public key. Blank lines and lines starting with # are skipped.
            """)

    @Argument(help: "A policy directory or file, or a compiled bundle.")
    var source: String

    @Option(help: "The file of requests, or - for standard input.")
    var requests: String

    @Option(help: "Output: text, or json (one JSON object a line).")
    var output: EvalOutput = .text

    enum EvalOutput: String, ExpressibleByArgument { case text, json }

    func run() throws {
        let (tables, _) = try TableSource.load(source, printer: DiagnosticPrinter(format: .human))
        let text: String
        if requests == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: requests) else {
                throw UsageFailure("cannot read \(requests)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var bad = 0
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var parser = RuleParser(line, at: SourceLocation(file: requests, line: n + 1, column: 1))
            let subject: Located<String>, request: Request, at: Int64?
            do {
                (subject, request, at) = try parser.parseRequestLine()
            } catch {
                bad += 1
                Console.err("\(error.diagnostic.span?.start.description ?? requests): error: \(error.diagnostic.message)\n")
                continue
            }
            let index = tables.identity(named: subject.value) ?? (try? PublicKey(base64: subject.value)).flatMap { tables.identity(forKey: $0) }
            let ms = at.map { $0 * 1000 } ?? now
            let d = tables.decide(
                identity: index, address: request.address, port: request.port, ipProtocol: request.proto.ipProtocolNumber, at: ms)
            let ids = tables.rules(of: d).map { tables.rules[Int($0)].id }
            switch output {
            case .text:
                Console.out("\(d.verdict.rawValue) \(subject.value) -> \(request) \(d.reason.rawValue)"
                    + (ids.isEmpty ? "" : " rules=\(ids.joined(separator: ","))") + " ttl=\(Duration(ms: d.ttlMilliseconds))\n")
            case .json:
                var object: [String: Any] = [
                    "subject": subject.value, "destination": request.description, "verdict": d.verdict.rawValue,
                    "reason": d.reason.rawValue, "rules": ids, "ttl_ms": d.ttlMilliseconds,
                    "valid_until": iso8601(milliseconds: d.validUntilMilliseconds),
                ]
                if let r = d.rate { object["rate"] = r.description }
                let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                Console.out(String(decoding: json, as: UTF8.self) + "\n")
            }
        }
        if bad > 0 { throw ExitCode(Status.findings) }
    }
}
