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

    /// The pretty-printed text, without a final newline.
    package var text: String {
        var out = ""
        write(to: &out, indent: 0)
        return out
    }

    private func write(to out: inout String, indent: Int) {
        switch self {
        case .string(let s): Self.writeString(s, to: &out)
        case .int(let n): out += String(n)
        case .array(let items):
            out += "[\n"
            for (i, item) in items.enumerated() {
                if i > 0 { out += ",\n" }
                Self.writeIndent(indent + 1, to: &out)
                item.write(to: &out, indent: indent + 1)
            }
            out += "\n"
            Self.writeIndent(indent, to: &out)
            out += "]"
        case .object(let members):
            out += "{\n"
            for (i, key) in members.keys.sorted(by: Self.keyOrder).enumerated() {
                if i > 0 { out += ",\n" }
                Self.writeIndent(indent + 1, to: &out)
                Self.writeString(key, to: &out)
                out += " : "
                members[key]!.write(to: &out, indent: indent + 1)
            }
            out += "\n"
            Self.writeIndent(indent, to: &out)
            out += "}"
        }
    }

    /// `.sortedKeys` order for ASCII keys: case-insensitive, then by code point to break ties.
    private static func keyOrder(_ a: String, _ b: String) -> Bool {
        let (la, lb) = (a.lowercased(), b.lowercased())
        return la != lb ? la < lb : a < b
    }

    private static func writeIndent(_ level: Int, to out: inout String) {
        out += String(repeating: "  ", count: level)
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/": out += "\\/"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0}"..."\u{f}": out += "\\u000" + String(scalar.value, radix: 16)
            case "\u{10}"..."\u{1f}": out += "\\u00" + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
