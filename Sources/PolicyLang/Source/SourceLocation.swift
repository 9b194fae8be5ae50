/// A position in a policy source file: 1-based line and column, as compilers print them.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The file's path as the user named it.
    package var file: String
    /// 1-based line.
    package var line: Int
    /// 1-based column, counted in characters.
    package var column: Int

    /// A location at 1-based `line` and `column` of `file`.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// Moves the location `n` columns to the right (for positions inside a rule string).
    package func advanced(by n: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column + n)
    }

    /// `file:line:column`, the form editors and terminals turn into links.
    public var description: String { "\(file):\(line):\(column)" }
}

/// A located piece of text: where it starts and how many characters it spans.
public struct SourceSpan: Hashable, Sendable, Codable {
    /// Where the text starts.
    public var start: SourceLocation
    /// Length in characters, at least 1 so that a caret always shows.
    public var length: Int

    /// A span of `length` characters from `start`; lengths below 1 become 1.
    public init(_ start: SourceLocation, length: Int = 1) {
        self.start = start
        self.length = max(1, length)
    }
}

/// The text of one source file, kept so that diagnostics can quote the faulty line.
public struct SourceFile: Sendable {
    /// The path as the user named it, as in ``SourceLocation/file``.
    public let path: String
    /// The whole text.
    public let text: String
    /// The text split at every line break libyaml counts, so that YAML line numbers index it (1-based through
    /// ``line(_:)``).
    package let lines: [Substring]

    /// Keeps `text` and splits it into lines once, so that each diagnostic's quote is an array lookup.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
        self.lines = Self.lines(of: text)
    }

    /// `text` split at the line breaks libyaml counts (YAML 1.1: LF, CR, CR LF, U+0085, U+2028,
    /// U+2029), so that its line numbers index the result; a break at the end leaves an empty
    /// last line.
    ///
    /// The scan reads UTF-8 bytes: splitting by `Character` against a set of breaks hashed every
    /// character of the file, a sixth of a fuzzed parse. Each break is a whole grapheme cluster
    /// (the cluster rules always break around CR, LF and controls, and U+0085, U+2028 and
    /// U+2029 count as controls), so these byte offsets are the same cuts the `Character` split
    /// made (`TextScanningTests` compares the two).
    static func lines(of text: String) -> [Substring] {
        var text = text
        text.makeContiguousUTF8()
        let offsets = text.utf8.withContiguousStorageIfAvailable(breakOffsets) ?? Array(text.utf8).withUnsafeBufferPointer(breakOffsets)
        var lines: [Substring] = []
        lines.reserveCapacity(offsets.count / 2 + 1)
        let utf8 = text.utf8
        var start = utf8.startIndex
        for k in stride(from: 0, to: offsets.count, by: 2) {
            let lineEnd = utf8.index(utf8.startIndex, offsetBy: offsets[k])
            lines.append(text[start..<lineEnd])
            start = utf8.index(utf8.startIndex, offsetBy: offsets[k + 1])
        }
        lines.append(text[start..<utf8.endIndex])
        return lines
    }

    /// Where each line break of `bytes` starts and ends, as pairs of byte offsets.
    private static func breakOffsets(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        var offsets: [Int] = []
        var i = 0
        while i < bytes.count {
            let width: Int
            switch bytes[i] {
            case 0x0A: width = 1
            case 0x0D: width = i + 1 < bytes.count && bytes[i + 1] == 0x0A ? 2 : 1
            case 0xC2: width = i + 1 < bytes.count && bytes[i + 1] == 0x85 ? 2 : 0
            case 0xE2:
                width = i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9) ? 3 : 0
            default: width = 0
            }
            if width == 0 {
                i += 1
            } else {
                offsets.append(i)
                offsets.append(i + width)
                i += width
            }
        }
        return offsets
    }

    /// The text of 1-based line `n`, or nil past the end.
    package func line(_ n: Int) -> Substring? {
        n >= 1 && n <= lines.count ? lines[n - 1] : nil
    }
}
