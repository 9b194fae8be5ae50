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
        let limit = max(1, word.count / 3)
        var best: (String, Int)? = nil
        for c in candidates where abs(c.count - word.count) <= limit {
            let d = distance(word, c)
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// Edit distance counting an adjacent transposition as one edit (optimal string alignment),
    /// case-insensitive: `tpc` is one edit from `tcp`.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.lowercased()), y = Array(b.lowercased())
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}
