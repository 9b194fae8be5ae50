import Yams

/// Checks a composed YAML tree against the nesting limit, and against alias expansion: an
/// alias makes one node appear in many places, so a small file can stand for a tree far larger
/// than itself (`a: &a [x, x, x]`, `b: &b [*a, *a, *a]`, ...). A tree is walked iteratively, once,
/// and refused when it holds more than two values per byte of text (every value written out in
/// the file takes at least one byte) or nests deeper than ``PolicyLimits/maxYAMLNesting``.
enum YAMLShape {
    static func check(_ root: Node, sourceBytes: Int, limits: PolicyLimits, path: String) -> Diagnostic? {
        let maxValues = 2 * sourceBytes + 64
        var values = 0
        var stack: [(Node, Int)] = [(root, 1)]
        while let (node, depth) = stack.popLast() {
            values += 1
            if values > maxValues {
                return .error(
                    .tooManyEntries, "the file's YAML aliases expand to more than \(maxValues) values",
                    at: span(node, path),
                    help: "write the lists out instead of repeating them with aliases (*name)")
            }
            switch node {
            case .scalar: break
            case .mapping(let m):
                if depth >= limits.maxYAMLNesting { return tooDeep(node, path, limits) }
                for (k, v) in m {
                    stack.append((k, depth + 1))
                    stack.append((v, depth + 1))
                }
            case .sequence(let s):
                if depth >= limits.maxYAMLNesting { return tooDeep(node, path, limits) }
                for item in s { stack.append((item, depth + 1)) }
            case .alias: break
            }
        }
        return nil
    }

    private static func tooDeep(_ node: Node, _ path: String, _ limits: PolicyLimits) -> Diagnostic {
        .error(
            .yamlTooDeep, "YAML collections nested more than \(limits.maxYAMLNesting) deep", at: span(node, path),
            help: "a policy file needs about five levels: sections, entries, and their fields")
    }

    private static func span(_ node: Node, _ path: String) -> SourceSpan {
        let mark = node.mark
        return SourceSpan(SourceLocation(file: path, line: mark?.line ?? 1, column: mark?.column ?? 1))
    }
}
