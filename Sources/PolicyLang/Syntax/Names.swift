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
        let asciiWord = asciiLowercased(word)
        let x = asciiWord == nil ? Array(word.lowercased()) : []
        var rows = Rows()
        var best: (String, Int)? = nil
        for c in candidates where abs(c.count - length) <= limit {
            let d: Int
            if let asciiWord, let y = asciiLowercased(c) {
                d = distance(asciiWord, y, &rows)
            } else {
                d = distance(asciiWord.map { $0.map { Character(Unicode.Scalar($0)) } } ?? x, Array(c.lowercased()), &rows)
            }
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// Edit distance counting an adjacent transposition as one edit (optimal string alignment),
    /// case-insensitive: `tpc` is one edit from `tcp`.
    static func distance(_ a: String, _ b: String) -> Int {
        var rows = Rows()
        return distance(Array(a.lowercased()), Array(b.lowercased()), &rows)
    }

    /// The bytes of `s` lowercased, when each byte is one `Character` (ASCII without CR, which
    /// joins a following LF into one): then the distance over bytes is the distance over
    /// `Character`s, without comparing `Character`s, which goes through string comparison and
    /// was most of the cost of a suggestion for a mistyped verdict.
    private static func asciiLowercased(_ s: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            guard b < 0x80, b != UInt8(ascii: "\r") else { return nil }
            bytes.append(b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b)
        }
        return bytes
    }

    /// The three rolling rows of the distance, reused from one candidate to the next: a
    /// suggestion among the ~600 time zone names used to allocate a row per letter of each
    /// candidate, then three per candidate.
    struct Rows {
        var previous2: [Int] = []
        var previous: [Int] = []
        var current: [Int] = []
    }

    /// The distance over elements already lowercased.
    private static func distance<Element: Equatable>(_ x: [Element], _ y: [Element], _ rows: inout Rows) -> Int {
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        let width = y.count + 1
        if rows.current.count < width {
            rows.previous2 = [Int](repeating: 0, count: width)
            rows.previous = rows.previous2
            rows.current = rows.previous2
        }
        for j in 0..<width { rows.previous[j] = j }
        for i in 1...x.count {
            rows.current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                rows.current[j] = min(rows.previous[j] + 1, rows.current[j - 1] + 1, rows.previous[j - 1] + cost)
                if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                    rows.current[j] = min(rows.current[j], rows.previous2[j - 2] + 1)
                }
            }
            swap(&rows.previous2, &rows.previous)
            swap(&rows.previous, &rows.current)
        }
        return rows.previous[y.count]
    }
}
