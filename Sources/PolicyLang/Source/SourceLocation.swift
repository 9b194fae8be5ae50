/// A position in a policy source file: 1-based line and column, as compilers print them.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The file's path as the user named it.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in characters.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// Moves the location `n` columns to the right (for positions inside a rule string).
    package func advanced(by n: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column + n)
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A located piece of text: where it starts and how many characters it spans.
public struct SourceSpan: Hashable, Sendable, Codable {
    public var start: SourceLocation
    /// Length in characters, at least 1 so that a caret always shows.
    public var length: Int

    public init(_ start: SourceLocation, length: Int = 1) {
        self.start = start
        self.length = max(1, length)
    }
}

/// The text of one source file, kept so that diagnostics can quote the faulty line.
public struct SourceFile: Sendable {
    public let path: String
    public let text: String
    public let lines: [Substring]

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        // The line breaks libyaml counts (YAML 1.1), so that its line numbers index this array.
        let breaks: Set<Character> = ["\n", "\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"]
        self.lines = text.split(omittingEmptySubsequences: false, whereSeparator: { breaks.contains($0) })
    }

    /// The text of 1-based line `n`, or nil past the end.
    public func line(_ n: Int) -> Substring? {
        n >= 1 && n <= lines.count ? lines[n - 1] : nil
    }
}
