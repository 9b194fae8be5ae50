import Foundation
import Yams

/// Reads one policy file: YAML through Yams (libyaml), then each rule and test line through
/// ``RuleParser``. It reports every fault it can find in one pass, each with file:line:column.
/// Sections, lists, nesting and rule lines are held to ``PolicyLimits``.
struct PolicyFileParser {
    private let source: SourceFile
    private let limits: PolicyLimits
    private let budget: CompileBudget?
    private var diagnostics: [Diagnostic] = []

    static let topLevelKeys = ["policy", "description", "defaults", "identities", "groups", "hosts", "block", "rules", "tests"]

    init(source: SourceFile, limits: PolicyLimits = .default, budget: CompileBudget? = nil) {
        self.source = source
        self.limits = limits
        self.budget = budget
    }

    /// Parses the file. The result is nil only when the YAML itself is unreadable (or past a
    /// limit) or has no policy name; otherwise it holds everything that parsed, beside the
    /// diagnostics.
    static func parse(_ source: SourceFile, limits: PolicyLimits = .default) -> (PolicyFile?, [Diagnostic]) {
        do {
            return try parse(source, limits: limits, budget: nil)
        } catch {
            preconditionFailure("a parse without a budget cannot be interrupted")
        }
    }

    /// ``parse(_:limits:)`` under a compile budget, checked once per section entry.
    static func parse(
        _ source: SourceFile, limits: PolicyLimits, budget: CompileBudget?
    ) throws(CompileInterrupted) -> (PolicyFile?, [Diagnostic]) {
        var parser = PolicyFileParser(source: source, limits: limits, budget: budget)
        let file = try parser.run()
        return (file, parser.diagnostics)
    }

    private mutating func run() throws(CompileInterrupted) -> PolicyFile? {
        let root: Node?
        do {
            // The encoding is named: Yams' default reads the whole process environment on every
            // call (for YAMS_DEFAULT_ENCODING), which cost a tenth of a config parse; Swift
            // strings are UTF-8, which is what that default picks.
            // The resolver is the basic one, with no rules: this parser reads scalars as text and
            // never asks for a resolved tag (`Node.null` looks at the text), but the default
            // resolver matches every mapping key against up to seven regular expressions (through
            // NSString) for the duplicate-key check. With no rules every plain scalar is a string,
            // so `true:` and `"true":` are now the same key, which is how this parser reads them.
            root = try Yams.compose(yaml: source.text, .basic, .default, .utf8)
        } catch let error as YamlError {
            diagnostics.append(yamlDiagnostic(error))
            return nil
        } catch {
            diagnostics.append(.error(.yaml, "\(error)", at: SourceSpan(location(line: 1, column: 1))))
            return nil
        }
        if let root, let fault = YAMLShape.check(root, sourceBytes: source.text.utf8.count, limits: limits, path: source.path) {
            diagnostics.append(fault)
            return nil
        }
        guard let root, let mapping = root.mapping else {
            diagnostics.append(
                .error(
                    .schema, "a policy file is a YAML mapping with 'policy:' and 'rules:' keys",
                    at: SourceSpan(root.flatMap { span($0) }?.start ?? location(line: 1, column: 1))))
            return nil
        }

        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                diagnostics.append(.error(.schema, "keys of a policy file are plain words", at: span(key)))
                continue
            }
            guard Self.topLevelKeys.contains(name) else {
                diagnostics.append(
                    .error(
                        .schema, "unknown key '\(name)'", at: span(key),
                        help: Suggest.closest(to: name, among: Self.topLevelKeys).map { "did you mean '\($0)'?" }
                            ?? "a policy file has the keys \(Self.topLevelKeys.joined(separator: ", "))"))
                continue
            }
            fields[name] = (key, value)
        }

        guard let policy = fields["policy"] else {
            diagnostics.append(
                .error(
                    .schema, "missing 'policy:' (the policy's name, used in rule ids)",
                    at: span(root) ?? SourceSpan(location(line: 1, column: 1))))
            return nil
        }
        guard let policyName = string(policy.value, what: "the policy name") else { return nil }
        guard Names.isValid(policyName.value) else {
            diagnostics.append(
                .error(.schema, "'\(policyName.value)' is not a valid policy name", at: policyName.span,
                       help: "start with a letter; use letters, digits, '-', '_' and '.'"))
            return nil
        }

        var file = PolicyFile(path: source.path, name: policyName)
        if let d = fields["description"] { file.description = string(d.value, what: "the description")?.value }
        if let d = fields["defaults"] { file.defaults = parseDefaults(d.value) }
        if let i = fields["identities"] { file.identities = try parseIdentities(i.value) }
        if let g = fields["groups"] { file.groups = try parseGroups(g.value) }
        if let h = fields["hosts"] { file.hosts = try parseHosts(h.value) }
        if let r = fields["rules"] { file.rules = try parseRules(r.value, policy: policyName.value, defaults: file.defaults) }
        if let t = fields["tests"] { file.tests = try parseTests(t.value) }
        if let b = fields["block"] { file.blocks = try parseBlocks(b.value) }
        return file
    }

    // MARK: Sections

    private mutating func parseDefaults(_ node: Node) -> Defaults {
        var defaults = Defaults()
        guard let mapping = mappingOf(node, what: "defaults") else { return defaults }
        for (key, value) in mapping {
            guard let name = key.scalar?.string, let text = string(value, what: "a default") else { continue }
            switch name {
            case "cache_ttl":
                if let d = Duration.parse(text.value) {
                    defaults.cacheTTL = d
                } else {
                    diagnostics.append(
                        .error(.invalidDuration, "invalid duration '\(text.value)'", at: text.span,
                               help: "write a positive number of ms, s, m or h, at most a day, such as 5s"))
                }
            case "rate_limit":
                if let r = Rate.parse(text.value) {
                    defaults.rateLimit = r
                } else {
                    diagnostics.append(
                        .error(.invalidRate, "invalid rate '\(text.value)'", at: text.span,
                               help: "write a count from 1 to 10000000 per s, m or h, such as 100/s"))
                }
            default:
                diagnostics.append(
                    .error(.schema, "unknown default '\(name)'", at: span(key),
                           help: Suggest.closest(to: name, among: ["cache_ttl", "rate_limit"]).map { "did you mean '\($0)'?" }
                               ?? "defaults are cache_ttl and rate_limit"))
            }
        }
        return defaults
    }

    private mutating func parseIdentities(_ node: Node) throws(CompileInterrupted) -> [IdentityDecl] {
        guard let mapping = mappingOf(node, what: "identities"), within(mapping.count, node, "identities") else { return [] }
        var result: [IdentityDecl] = []
        for (key, value) in mapping {
            try budget?.check()
            guard let name = declName(key) else { continue }
            guard let fields = mappingOf(value, what: "identity '\(name.value)' (write { key: ..., user: ..., tags: [...] })")
            else { continue }
            var keyText: Located<String>? = nil
            var user: Located<String>? = nil
            var tags: [Located<String>] = []
            var allowedIPs: [Located<IPPrefix>] = []
            for (k, v) in fields {
                switch k.scalar?.string {
                case "key": keyText = string(v, what: "a key")
                case "user": user = string(v, what: "a user")
                case "tags":
                    guard let seq = sequenceOf(v, what: "tags"), within(seq.count, v, "tags", list: true) else { continue }
                    for t in seq {
                        guard let tag = string(t, what: "a tag") else { continue }
                        if Names.isValid(tag.value) {
                            tags.append(tag)
                        } else {
                            diagnostics.append(.error(.schema, "'\(tag.value)' is not a valid tag", at: tag.span))
                        }
                    }
                case "allowed_ips":
                    let items: [Node] = v.sequence.map { Array($0) } ?? [v]
                    guard within(items.count, v, "allowed_ips", list: true) else { continue }
                    for item in items {
                        guard let text = string(item, what: "an address or CIDR") else { continue }
                        do {
                            allowedIPs.append(Located(try RuleParser.parseCIDR(Substring(text.value), text.span), text.span))
                        } catch {
                            diagnostics.append(error.diagnostic)
                        }
                    }
                default:
                    let word = k.scalar?.string ?? "?"
                    diagnostics.append(
                        .error(.schema, "unknown identity field '\(word)'", at: span(k),
                               help: Suggest.closest(to: word, among: ["key", "user", "tags", "allowed_ips"]).map { "did you mean '\($0)'?" }
                                   ?? "an identity has key, user, tags and allowed_ips"))
                }
            }
            guard let keyText else {
                diagnostics.append(
                    .error(.schema, "identity '\(name.value)' has no 'key:' (its WireGuard public key)", at: name.span))
                continue
            }
            result.append(IdentityDecl(name: name, key: keyText, user: user, tags: tags, allowedIPs: allowedIPs))
        }
        return result
    }

    private mutating func parseGroups(_ node: Node) throws(CompileInterrupted) -> [GroupDecl] {
        guard let mapping = mappingOf(node, what: "groups"), within(mapping.count, node, "groups") else { return [] }
        var result: [GroupDecl] = []
        for (key, value) in mapping {
            try budget?.check()
            guard let name = declName(key) else { continue }
            guard let seq = sequenceOf(value, what: "group '\(name.value)' (write [user@example.com, group:other])"),
                within(seq.count, value, "members of group '\(name.value)'", list: true)
            else { continue }
            var members: [Located<GroupMember>] = []
            for item in seq {
                guard let text = string(item, what: "a group member") else { continue }
                if text.value.hasPrefix("group:") {
                    let inner = String(text.value.dropFirst(6))
                    if Names.isValid(inner) {
                        members.append(Located(.group(inner), text.span))
                    } else {
                        diagnostics.append(.error(.schema, "'\(inner)' is not a valid group name", at: text.span))
                    }
                } else if text.value.hasPrefix("user:") {
                    members.append(Located(.user(String(text.value.dropFirst(5))), text.span))
                } else if Names.isValid(text.value) {
                    members.append(Located(.user(text.value), text.span))
                } else {
                    diagnostics.append(
                        .error(.schema, "'\(text.value)' is neither a user nor 'group:NAME'", at: text.span))
                }
            }
            result.append(GroupDecl(name: name, members: members))
        }
        return result
    }

    private mutating func parseHosts(_ node: Node) throws(CompileInterrupted) -> [HostDecl] {
        guard let mapping = mappingOf(node, what: "hosts"), within(mapping.count, node, "hosts") else { return [] }
        var result: [HostDecl] = []
        for (key, value) in mapping {
            try budget?.check()
            guard let name = declName(key) else { continue }
            let items: [Node] = value.sequence.map { Array($0) } ?? [value]
            guard within(items.count, value, "addresses of host '\(name.value)'", list: true) else { continue }
            var prefixes: [Located<IPPrefix>] = []
            for item in items {
                guard let text = string(item, what: "an address or CIDR") else { continue }
                do {
                    prefixes.append(Located(try RuleParser.parseCIDR(Substring(text.value), text.span), text.span))
                } catch {
                    diagnostics.append(error.diagnostic)
                }
            }
            if items.isEmpty {
                diagnostics.append(.error(.schema, "host '\(name.value)' lists no addresses", at: name.span))
            }
            result.append(HostDecl(name: name, prefixes: prefixes))
        }
        return result
    }

    private mutating func parseBlocks(_ node: Node) throws(CompileInterrupted) -> [Located<IPPrefix>] {
        guard let seq = sequenceOf(node, what: "block (write [203.0.113.0/24, ...])"), within(seq.count, node, "block")
        else { return [] }
        var result: [Located<IPPrefix>] = []
        for item in seq {
            try budget?.check()
            guard let text = string(item, what: "an address or CIDR") else { continue }
            do {
                result.append(Located(try RuleParser.parseCIDR(Substring(text.value), text.span), text.span))
            } catch {
                diagnostics.append(error.diagnostic)
            }
        }
        return result
    }

    private mutating func parseRules(_ node: Node, policy: String, defaults: Defaults) throws(CompileInterrupted) -> [Rule] {
        guard let seq = sequenceOf(node, what: "rules"), within(seq.count, node, "rules") else { return [] }
        var rules: [Rule] = []
        var names: [String: SourceSpan] = [:]
        for (index, item) in seq.enumerated() {
            try budget?.check()
            var id = "\(policy)/\(index + 1)"
            let textNode: Node
            if let fields = item.mapping {
                var ruleNode: Node? = nil
                for (k, v) in fields {
                    switch k.scalar?.string {
                    case "name":
                        guard let n = string(v, what: "a rule name") else { continue }
                        guard Names.isValid(n.value) else {
                            diagnostics.append(.error(.schema, "'\(n.value)' is not a valid rule name", at: n.span))
                            continue
                        }
                        if let first = names[n.value] {
                            diagnostics.append(
                                .error(.duplicateName, "rule name '\(n.value)' is used twice in policy '\(policy)'", at: n.span,
                                       notes: [.init("first used here", at: first)]))
                        }
                        names[n.value] = n.span
                        id = "\(policy)/\(n.value)"
                    case "rule":
                        ruleNode = v
                    default:
                        let word = k.scalar?.string ?? "?"
                        diagnostics.append(
                            .error(.schema, "unknown rule field '\(word)'", at: span(k),
                                   help: "a named rule has the fields 'name' and 'rule'"))
                    }
                }
                guard let ruleNode else {
                    diagnostics.append(.error(.schema, "this rule has a name but no 'rule:'", at: span(item)))
                    continue
                }
                textNode = ruleNode
            } else {
                textNode = item
            }
            guard let (text, base) = ruleText(textNode, what: "a rule") else { continue }
            var parser = RuleParser(text, at: base)
            do {
                rules.append(try parser.parseRule(id: id, defaults: defaults))
            } catch {
                diagnostics.append(error.diagnostic)
            }
        }
        return rules
    }

    private mutating func parseTests(_ node: Node) throws(CompileInterrupted) -> [PolicyTest] {
        guard let seq = sequenceOf(node, what: "tests"), within(seq.count, node, "tests") else { return [] }
        var tests: [PolicyTest] = []
        for item in seq {
            try budget?.check()
            guard let (text, base) = ruleText(item, what: "a test") else { continue }
            var parser = RuleParser(text, at: base)
            do {
                tests.append(try parser.parseTest())
            } catch {
                diagnostics.append(error.diagnostic)
            }
        }
        return tests
    }

    // MARK: Node helpers

    /// Whether a section (or, with `list`, one list) is within its entry limit; reports it if not.
    private mutating func within(_ count: Int, _ node: Node, _ what: String, list: Bool = false) -> Bool {
        let limit = list ? limits.maxListItems : limits.maxSectionEntries
        guard count > limit else { return true }
        diagnostics.append(
            .error(
                .tooManyEntries, "\(count) \(what); the limit is \(limit)", at: span(node),
                help: list ? "a list holds at most \(limit) items" : "a section holds at most \(limit) entries"))
        return false
    }

    /// The text of a rule or test scalar and the location of its first character.
    private mutating func ruleText(_ node: Node, what: String) -> (String, SourceLocation)? {
        guard let scalar = node.scalar else {
            diagnostics.append(
                .error(.schema, "expected \(what) as one line of text", at: span(node),
                       help: "if the line contains ': ' or starts with a YAML indicator, put it in quotes"))
            return nil
        }
        var base = span(node)?.start ?? location(line: 1, column: 1)
        let length = scalar.string.utf8.count
        guard length <= limits.maxRuleLength else {
            diagnostics.append(
                .error(
                    .ruleTooLong, "\(what) of \(length) characters; the limit is \(limits.maxRuleLength)",
                    at: SourceSpan(base), help: "split it into several rules, or name the addresses in a host alias"))
            return nil
        }
        switch scalar.style {
        case .singleQuoted, .doubleQuoted: base = base.advanced(by: 1)
        default: break
        }
        return (scalar.string, base)
    }

    private mutating func string(_ node: Node, what: String) -> Located<String>? {
        guard let scalar = node.scalar else {
            diagnostics.append(.error(.schema, "expected \(what) as a single value", at: span(node)))
            return nil
        }
        var sp = span(node) ?? SourceSpan(location(line: 1, column: 1))
        if scalar.style == .singleQuoted || scalar.style == .doubleQuoted { sp.start = sp.start.advanced(by: 1) }
        sp.length = max(1, scalar.string.count)
        return Located(scalar.string, sp)
    }

    private mutating func declName(_ key: Node) -> Located<String>? {
        guard let name = string(key, what: "a name") else { return nil }
        guard Names.isValid(name.value) else {
            diagnostics.append(
                .error(.schema, "'\(name.value)' is not a valid name", at: name.span,
                       help: "start with a letter; use letters, digits, '-', '_', '.' and '@'"))
            return nil
        }
        return name
    }

    private mutating func mappingOf(_ node: Node, what: String) -> Node.Mapping? {
        if let m = node.mapping { return m }
        if node.null != nil { return nil }
        diagnostics.append(.error(.schema, "expected a mapping for \(what)", at: span(node)))
        return nil
    }

    private mutating func sequenceOf(_ node: Node, what: String) -> Node.Sequence? {
        if let s = node.sequence { return s }
        if node.null != nil { return nil }
        diagnostics.append(.error(.schema, "expected a list for \(what)", at: span(node)))
        return nil
    }

    private func span(_ node: Node) -> SourceSpan? {
        guard let mark = node.mark else { return nil }
        return SourceSpan(location(line: mark.line, column: mark.column), length: node.scalar?.string.count ?? 1)
    }

    private func location(line: Int, column: Int) -> SourceLocation {
        SourceLocation(file: source.path, line: line, column: column)
    }

    /// libyaml reports faults found at the end of the input one line past the last; point at
    /// the end of the last line instead, so that every location is inside the file.
    private func clamped(line: Int, column: Int) -> SourceLocation {
        let last = max(1, source.lines.count)
        if line > last {
            return location(line: last, column: (source.line(last)?.count ?? 0) + 1)
        }
        return location(line: max(1, line), column: max(1, column))
    }

    private func yamlDiagnostic(_ error: YamlError) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let notes = context.map { [Diagnostic.Note($0.text, at: SourceSpan(clamped(line: $0.mark.line, column: $0.mark.column)))] } ?? []
            return .error(.yaml, problem, at: SourceSpan(clamped(line: mark.line, column: mark.column)), notes: notes)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .error(
                .yaml, "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping",
                at: SourceSpan(clamped(line: context.mark.line, column: context.mark.column)))
        case .reader(let problem, _, _, _):
            return .error(.yaml, "cannot read the file as text: \(problem)", at: SourceSpan(location(line: 1, column: 1)))
        default:
            return .error(.yaml, "\(error)", at: SourceSpan(location(line: 1, column: 1)))
        }
    }
}
