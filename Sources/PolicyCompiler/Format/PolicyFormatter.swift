import Foundation
import PolicyLang
import Yams

/// Rewrites a policy file in the canonical layout, keeping its comments.
///
/// The layout: top-level keys in Grammar.md's order (policy, description, defaults, identities,
/// groups, hosts, block, rules, tests; unknown keys after, as written); `defaults` as a block;
/// one identity a line as a flow mapping (key, user, tags, allowed_ips), their braces aligned;
/// groups and host lists in flow style; `block`, `rules` and `tests` one item a line, a rule's
/// blanks collapsed, a named rule as `name:` then `rule:`. Scalars keep their value and whether
/// they were quoted (quotes become double quotes), except that rule and test lines are quoted
/// only when YAML needs it. Comments stay with the entry they were written beside or above;
/// runs of blank lines become one. Rules keep their order, since a rule's id may be its
/// position. Formatting a formatted file changes nothing.
package enum PolicyFormatter {
    /// Why a file was not formatted.
    package struct Failure: Error, CustomStringConvertible {
        /// 1-based line of the input the failure is about.
        package var line: Int
        /// What is wrong there.
        package var message: String
        /// `line N: message`.
        package var description: String { "line \(line): \(message)" }
    }

    static let sectionOrder = ["policy", "description", "defaults", "identities", "groups", "hosts", "block", "rules", "tests"]

    /// The canonical text of `source`; throws when it is not YAML or has a shape fmt does not
    /// rewrite (a top level that is not a block mapping, block scalars outside `description`).
    /// YAML aliases (`*name`) are written out as the values they stand for.
    package static func format(_ source: String) throws(Failure) -> String {
        let root: Node?
        do {
            // The encoding is named: Yams' default reads the whole process environment on every
            // call (for YAMS_DEFAULT_ENCODING), which cost a tenth of a config parse; Swift
            // strings are UTF-8, which is what that default picks.
            root = try Yams.compose(yaml: source, .default, .default, .utf8)
        } catch {
            throw Failure(line: 1, message: "not readable YAML: \(error)")
        }
        guard let root, let mapping = root.mapping, mapping.style != .flow else {
            throw Failure(line: 1, message: "a policy file is a block mapping of keys such as 'policy:' and 'rules:'")
        }
        var lines = SourceLines(source)
        // The lines of a block scalar (`description: |`) are its text, even those that look
        // like comments or blanks: they stay with it, as written.
        let starts = mapping.compactMap { $0.key.mark?.line }.sorted()
        for (key, value) in mapping {
            guard let scalar = value.scalar, scalar.style == .literal || scalar.style == .folded, let line = key.mark?.line else { continue }
            let next = starts.first { $0 > line } ?? lines.text.count + 1
            for l in (line + 1)..<max(line + 1, next) {
                lines.comments[l] = nil
                lines.trivia.remove(l)
            }
        }
        var writer = Writer(lines: lines)
        return try writer.file(mapping)
    }

    /// An entry of a mapping or sequence, with its source lines.
    struct Item {
        var key: Node?
        var value: Node
        /// The line it starts on.
        var start: Int
        /// The last line of its content (comments and blanks after it excluded).
        var end: Int
    }

    struct Writer {
        let lines: SourceLines
        var out: [String] = []

        init(lines: SourceLines) {
            self.lines = lines
        }

        // MARK: Structure

        /// Items in source order with their line ranges, within lines `first...last`.
        func items(_ pairs: [(Node?, Node)], last: Int) throws(Failure) -> [Item] {
            var result: [Item] = []
            for (k, v) in pairs {
                guard let mark = (k ?? v).mark else { throw Failure(line: 1, message: "a node without a position") }
                result.append(Item(key: k, value: v, start: mark.line, end: mark.line))
            }
            result.sort { $0.start < $1.start }
            for i in result.indices {
                let limit = i + 1 < result.count ? result[i + 1].start - 1 : last
                var end = max(result[i].start, limit)
                while end > result[i].start && lines.trivia.contains(end) { end -= 1 }
                // Items that share a line (a flow collection) end where the next begins.
                result[i].end = i + 1 < result.count && result[i + 1].start == result[i].start ? result[i].start : end
            }
            return result
        }

        /// Comment and blank lines between `after` and `before` (exclusive), blanks collapsed to one.
        func trivia(after: Int, before: Int) -> [String] {
            var result: [String] = []
            guard after + 1 < before else { return result }
            for line in (after + 1)..<before {
                if lines.isBlank(line) {
                    if result.last != "" { result.append("") }
                } else if let c = lines.comments[line] {
                    result.append(String(repeating: " ", count: c.column) + c.text)
                }
            }
            return result
        }

        /// Full-line comments inside an item's lines, and the trailing comments of its lines
        /// after the first: they are moved above it, as the item becomes one line.
        func inner(_ item: Item, indent: String, skipping: Int? = nil) -> [String] {
            guard item.end > item.start else { return [] }
            var result: [String] = []
            for line in (item.start + 1)...item.end where line != skipping {
                if let c = lines.comments[line] { result.append(indent + c.text) }
            }
            return result
        }

        /// `text` with the trailing comment of `line`, kept at its column when there is room.
        func withComment(_ text: String, line: Int?) -> String {
            guard let line, let c = lines.comments[line] else { return text }
            let width = text.unicodeScalars.count
            return text + String(repeating: " ", count: max(1, c.column - width)) + c.text
        }

        // MARK: File

        mutating func file(_ mapping: Node.Mapping) throws(Failure) -> String {
            let sections = try items(mapping.map { ($0.key, $0.value) }, last: lines.text.count)
            guard let first = sections.first else { return lines.text.map { $0 + "\n" }.joined() }
            // The header (comments before the first key) stays first whatever moves.
            out += trivia(after: 0, before: first.start)
            var leading: [Int: [String]] = [:]
            for (i, s) in sections.enumerated() where i > 0 {
                leading[s.start] = trivia(after: sections[i - 1].end, before: s.start)
            }
            let known = Self.order(sections)
            for s in known {
                var lead = leading[s.start] ?? []
                // No blank line at the very top, and none before the first section.
                if out.isEmpty || s.start == known.first?.start { while lead.first == "" { lead.removeFirst() } }
                out += lead
                try section(s)
            }
            out += trivia(after: sections.last!.end, before: lines.text.count + 1)
            while out.last == "" { out.removeLast() }
            return out.map { $0 + "\n" }.joined()
        }

        static func order(_ sections: [Item]) -> [Item] {
            func rank(_ s: Item) -> Int { sectionOrder.firstIndex(of: s.key?.scalar?.string ?? "") ?? sectionOrder.count }
            return sections.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
        }

        mutating func section(_ s: Item) throws(Failure) {
            let name = s.key?.scalar?.string ?? ""
            switch (name, s.value) {
            case ("policy", .scalar), ("description", .scalar):
                if let scalar = s.value.scalar, scalar.style == .literal || scalar.style == .folded || scalar.string.contains("\n") {
                    verbatim(s)
                } else {
                    out.append(withComment("\(name): \(try Self.scalar(s.value, flow: false))", line: s.start))
                    out += inner(s, indent: "")
                }
            case ("defaults", .mapping(let m)):
                try mappingSection(s, m, order: ["cache_ttl", "rate_limit"]) { (k, v) throws(Failure) in
                    "  \(try Self.scalar(k, flow: false)): \(try Self.scalar(v, flow: false))"
                }
            case ("identities", .mapping(let m)):
                let width = m.map { ($0.key.scalar?.string ?? "").unicodeScalars.count }.max() ?? 0
                try mappingSection(s, m, order: nil) { (k, v) throws(Failure) in
                    let key = try Self.scalar(k, flow: false)
                    let pad = String(repeating: " ", count: max(1, width - key.unicodeScalars.count + 1))
                    return "  \(key):\(pad)\(try Self.identity(v))"
                }
            case ("groups", .mapping(let m)), ("hosts", .mapping(let m)):
                try mappingSection(s, m, order: nil) { (k, v) throws(Failure) in
                    "  \(try Self.scalar(k, flow: false)): \(try Self.flow(v))"
                }
            case ("block", .sequence(let q)), ("tests", .sequence(let q)):
                try sequenceSection(s, q) { (v) throws(Failure) in
                    name == "tests" ? ["  - \(try Self.line(v))"] : ["  - \(try Self.scalar(v, flow: false))"]
                }
            case ("rules", .sequence(let q)):
                try sequenceSection(s, q) { (v) throws(Failure) in try Self.rule(v) }
            default:
                verbatim(s)
            }
        }

        /// Copies a section's lines as written.
        mutating func verbatim(_ s: Item) {
            out += lines.text[(s.start - 1)...(s.end - 1)]
        }

        mutating func mappingSection(
            _ s: Item, _ m: Node.Mapping, order: [String]?, entry: (Node, Node) throws(Failure) -> String
        ) throws(Failure) {
            let name = s.key!.scalar!.string
            // An empty mapping stays one (a bare `key:` would be null).
            out.append(withComment(m.count == 0 ? "\(name): {}" : "\(name):", line: s.start))
            let entries = try items(m.map { ($0.key, $0.value) }, last: s.end)
            try write(entries, of: s, order: order) { (item) throws(Failure) in [try entry(item.key!, item.value)] }
        }

        mutating func sequenceSection(_ s: Item, _ q: Node.Sequence, entry: (Node) throws(Failure) -> [String]) throws(Failure) {
            let name = s.key!.scalar!.string
            out.append(withComment(q.count == 0 ? "\(name): []" : "\(name):", line: s.start))
            let entries = try items(q.map { (nil, $0) }, last: s.end)
            try write(entries, of: s, order: nil) { (item) throws(Failure) in try entry(item.value) }
        }

        /// Writes the entries of a section, each with the comments above and beside it.
        mutating func write(_ children: [Item], of s: Item, order: [String]?, render: (Item) throws(Failure) -> [String]) throws(Failure) {
            var sorted = children
            if let order {
                func rank(_ i: Item) -> Int { order.firstIndex(of: i.key?.scalar?.string ?? "") ?? order.count }
                sorted = children.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
            }
            var previousEnd = s.start
            var leading: [Int: [String]] = [:]
            for c in children {
                leading[c.start] = c.start > s.start ? trivia(after: previousEnd, before: c.start) : []
                previousEnd = max(previousEnd, c.end)
            }
            for (n, c) in sorted.enumerated() {
                var lead = leading[c.start] ?? []
                if n == 0 { while lead.first == "" { lead.removeFirst() } }
                out += lead
                // An entry on the section's own line (flow style) leaves that line's comment to the section.
                let own = c.start > s.start ? c.start : nil
                out += inner(c, indent: "  ")
                var rendered = try render(c)
                rendered[0] = withComment(rendered[0], line: own)
                out += rendered
            }
            // Comments after the last entry, before the next section.
            if let lastEnd = children.map(\.end).max(), lastEnd < s.end {
                out += trivia(after: lastEnd, before: s.end + 1)
            }
        }

        // MARK: Values

        /// A scalar as YAML text: plain when it was plain and is still safe where it goes,
        /// else double-quoted.
        static func scalar(_ node: Node, flow: Bool) throws(Failure) -> String {
            guard let s = node.scalar else {
                throw Failure(line: node.mark?.line ?? 1, message: "expected a single value here")
            }
            switch s.style {
            case .literal, .folded:
                throw Failure(line: node.mark?.line ?? 1, message: "fmt does not rewrite block scalars (| or >) outside 'description'")
            case .plain, .any:
                return safePlain(s.string, flow: flow) ? s.string : quoted(s.string)
            case .singleQuoted, .doubleQuoted:
                return quoted(s.string)
            }
        }

        /// A rule or test line: blanks collapsed, quoted only when YAML needs it.
        static func line(_ node: Node) throws(Failure) -> String {
            guard let s = node.scalar, s.style != .literal, s.style != .folded else {
                throw Failure(line: node.mark?.line ?? 1, message: "a rule or test is one line of text")
            }
            let text = s.string.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
            return safePlain(text, flow: false) ? text : quoted(text)
        }

        static func rule(_ node: Node) throws(Failure) -> [String] {
            guard let m = node.mapping else { return ["  - \(try line(node))"] }
            var fields: [String] = []
            let order = ["name", "rule"]
            let pairs = m.enumerated().sorted { a, b in
                let ra = order.firstIndex(of: a.element.key.scalar?.string ?? "") ?? 2
                let rb = order.firstIndex(of: b.element.key.scalar?.string ?? "") ?? 2
                return (ra, a.offset) < (rb, b.offset)
            }
            for (_, pair) in pairs {
                let key = try scalar(pair.key, flow: false)
                let value = key == "rule" ? try line(pair.value) : try scalar(pair.value, flow: false)
                fields.append((fields.isEmpty ? "  - " : "    ") + "\(key): \(value)")
            }
            return fields.isEmpty ? ["  - {}"] : fields
        }

        static func identity(_ node: Node) throws(Failure) -> String {
            guard let m = node.mapping else { return try scalar(node, flow: false) }
            let order = ["key", "user", "tags", "allowed_ips"]
            let pairs = m.enumerated().sorted { a, b in
                let ra = order.firstIndex(of: a.element.key.scalar?.string ?? "") ?? order.count
                let rb = order.firstIndex(of: b.element.key.scalar?.string ?? "") ?? order.count
                return (ra, a.offset) < (rb, b.offset)
            }
            var fields: [String] = []
            for (_, pair) in pairs {
                fields.append("\(try scalar(pair.key, flow: true)): \(try flow(pair.value))")
            }
            return fields.isEmpty ? "{}" : "{ \(fields.joined(separator: ", ")) }"
        }

        /// A scalar, or a sequence of scalars as `[a, b]`, in flow context.
        static func flow(_ node: Node) throws(Failure) -> String {
            if let q = node.sequence {
                var items: [String] = []
                for item in q { items.append(try scalar(item, flow: true)) }
                return "[\(items.joined(separator: ", "))]"
            }
            return try scalar(node, flow: true)
        }

        /// Whether `text` reads back as the same string written plain.
        static func safePlain(_ text: String, flow: Bool) -> Bool {
            guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
            let second = text.unicodeScalars.dropFirst().first
            if "-?:".unicodeScalars.contains(first) {
                // These start a plain scalar only when a non-blank follows.
                if second == nil || second == " " { return false }
            } else if ",[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) {
                return false
            }
            if first == " " || last == " " || last == ":" || text.contains(": ") || text.contains(" #") || text.contains("\n") || text.contains("\t") {
                return false
            }
            if flow && text.unicodeScalars.contains(where: { ",[]{}".unicodeScalars.contains($0) }) { return false }
            return true
        }

        static func quoted(_ text: String) -> String {
            var out = "\""
            for c in text.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                default:
                    if c.value < 0x20 || c.value == 0x7f { out += String(format: "\\x%02X", c.value) } else { out.unicodeScalars.append(c) }
                }
            }
            return out + "\""
        }
    }
}
