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
        // The line breaks libyaml counts (YAML 1.1), so that its line numbers index this array.
        let breaks: Set<Character> = ["\n", "\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"]
        self.lines = text.split(omittingEmptySubsequences: false, whereSeparator: { breaks.contains($0) })
    }

    /// The text of 1-based line `n`, or nil past the end.
    package func line(_ n: Int) -> Substring? {
        n >= 1 && n <= lines.count ? lines[n - 1] : nil
    }
}
