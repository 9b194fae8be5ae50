/// A JSON document as the diagnostics renderers build it, and its text.
///
/// The renderers used to hand `[String: Any]` trees to Foundation's `JSONSerialization`, which on
/// Linux bridges every dictionary, array and string to its NS counterpart and sorts keys through
/// `NSString.compare`: a SARIF log of one diagnostic cost more than parsing, resolving and
/// compiling the policy it described. This writes the same text directly: pretty-printed with two
/// spaces, `"key" : value`, keys sorted as `JSONSerialization`'s `.sortedKeys` sorts these ASCII
/// names (case-insensitively), strings escaped as it escapes them (including `\/`).
/// `DiagnosticRendererTests` compares the two byte for byte.
package enum JSONValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case array([JSONValue])
    /// Members in any order: the text sorts them.
    case object([String: JSONValue])
    /// A value whose text is written once and copied after (``PrewrittenJSON``).
    case prewritten(PrewrittenJSON)

    /// The pretty-printed text, without a final newline.
    package var text: String {
        // Written as UTF-8 bytes: appending to a String scalar by scalar cost more than the
        // rest of the writer together.
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(to: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    fileprivate func write(to out: inout [UInt8], indent: Int) {
        switch self {
        case .prewritten(let value):
            if indent == value.indent { out += value.bytes } else { value.value.write(to: &out, indent: indent) }
        case .string(let s): Self.writeString(s, to: &out)
        case .int(let n): out += String(n).utf8
        case .array(let items):
            out += "[\n".utf8
            for (i, item) in items.enumerated() {
                if i > 0 { out += ",\n".utf8 }
                Self.writeIndent(indent + 1, to: &out)
                item.write(to: &out, indent: indent + 1)
            }
            out.append(UInt8(ascii: "\n"))
            Self.writeIndent(indent, to: &out)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out += "{\n".utf8
            for (i, key) in Self.sortedKeys(members).enumerated() {
                if i > 0 { out += ",\n".utf8 }
                Self.writeIndent(indent + 1, to: &out)
                Self.writeString(key, to: &out)
                out += " : ".utf8
                members[key]!.write(to: &out, indent: indent + 1)
            }
            out.append(UInt8(ascii: "\n"))
            Self.writeIndent(indent, to: &out)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// `.sortedKeys` order for ASCII keys: case-insensitive, then by code point to break ties.
    private static func sortedKeys(_ members: [String: JSONValue]) -> [String] {
        members.keys.sorted(by: precedes)
    }

    /// The order of ``sortedKeys(_:)``: lowercased text, then the text itself. ASCII keys (all
    /// the renderers write) are compared byte by byte, without the two lowercased copies per
    /// comparison that cost a tenth of a short SARIF log.
    static func precedes(_ a: String, _ b: String) -> Bool {
        // Beyond ASCII, lowercasing and comparison (after normalization) are Unicode's.
        guard a.utf8.allSatisfy({ $0 < 0x80 }), b.utf8.allSatisfy({ $0 < 0x80 }) else {
            return (a.lowercased(), a) < (b.lowercased(), b)
        }
        var x = a.utf8.makeIterator(), y = b.utf8.makeIterator()
        var tie = 0  // the first difference before lowercasing: -1 if a's byte is smaller
        while true {
            switch (x.next(), y.next()) {
            case (nil, nil): return tie < 0
            case (nil, _?): return true
            case (_?, nil): return false
            case let (p?, q?):
                let lp = p &+ (p >= 0x41 && p <= 0x5A ? 32 : 0), lq = q &+ (q >= 0x41 && q <= 0x5A ? 32 : 0)
                if lp != lq { return lp < lq }
                if tie == 0 && p != q { tie = p < q ? -1 : 1 }
            }
        }
    }

    private static func writeIndent(_ level: Int, to out: inout [UInt8]) {
        out += repeatElement(UInt8(ascii: " "), count: 2 * level)
    }

    /// Escapes as `JSONSerialization` does; only ASCII is escaped, so bytes of longer UTF-8
    /// sequences pass through unchanged.
    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += #"\""#.utf8
            case UInt8(ascii: "\\"): out += #"\\"#.utf8
            case UInt8(ascii: "/"): out += #"\/"#.utf8
            case 0x08: out += #"\b"#.utf8
            case 0x0c: out += #"\f"#.utf8
            case UInt8(ascii: "\n"): out += #"\n"#.utf8
            case UInt8(ascii: "\r"): out += #"\r"#.utf8
            case UInt8(ascii: "\t"): out += #"\t"#.utf8
            case 0x00..<0x20:
                out += (byte < 0x10 ? #"\u000"# : #"\u00"#).utf8
                out += String(byte, radix: 16).utf8
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A constant part of a document with its text written out in advance, for the indent it is
/// written at: the SARIF log's catalogue of every diagnostic code is the same in every log and
/// was most of the text, and of the cost, of rendering a short one. Written at another indent,
/// the value is written afresh, so the text is the same either way.
package final class PrewrittenJSON: Sendable, Equatable {
    /// The value the bytes are the text of.
    package let value: JSONValue
    /// The indent level the bytes were written at.
    let indent: Int
    /// `value`'s text at `indent`.
    let bytes: [UInt8]

    /// Writes `value` at `indent` once, for every document that places it at that level.
    package init(_ value: JSONValue, indent: Int) {
        self.value = value
        self.indent = indent
        var bytes: [UInt8] = []
        value.write(to: &bytes, indent: indent)
        self.bytes = bytes
    }

    package static func == (a: PrewrittenJSON, b: PrewrittenJSON) -> Bool { a.value == b.value }
}
