/// The shape of names: policy, identity, group and host names.
package enum Names {
    /// A name starts with a letter and goes on with letters, digits, `-`, `_`, `.` or `@`
    /// (so e-mail addresses are names too). Starting with a letter keeps names apart from addresses.
    static func isValid(_ s: some StringProtocol) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter, s.count <= 253 else { return false }
        return s.allSatisfy { c in
            c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == "." || c == "@")
        }
    }
}

/// Did-you-mean suggestions by edit distance.
package enum Suggest {
    /// The candidate closest to `word`, if it is close enough to be a plausible typo.
    package static func closest(to word: String, among candidates: some Sequence<String>) -> String? {
        let length = word.count
        let limit = max(1, length / 3)
        let x = Array(word.lowercased())
        var best: (String, Int)? = nil
        for c in candidates where abs(c.count - length) <= limit {
            let d = distance(x, Array(c.lowercased()))
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// Edit distance counting an adjacent transposition as one edit (optimal string alignment),
    /// case-insensitive: `tpc` is one edit from `tcp`.
    static func distance(_ a: String, _ b: String) -> Int {
        distance(Array(a.lowercased()), Array(b.lowercased()))
    }

    /// The distance over characters already lowercased. Three rolling rows, not the whole
    /// matrix: a suggestion among the ~600 time zone names used to allocate a row per letter of
    /// each candidate.
    private static func distance(_ x: [Character], _ y: [Character]) -> Int {
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous2 = [Int](repeating: 0, count: y.count + 1)
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[y.count]
    }
}
