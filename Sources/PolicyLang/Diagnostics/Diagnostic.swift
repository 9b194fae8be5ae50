/// How bad a diagnostic is.
public enum Severity: String, Sendable, Codable, Comparable {
    case note, warning, error

    private var rank: Int {
        switch self {
        case .note: 0
        case .warning: 1
        case .error: 2
        }
    }

    /// Orders by seriousness: note < warning < error, so that `max()` of a list is its worst.
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One finding of any stage (parser, resolver, lint, tests), with the place it is about.
///
/// Every stage reports through this one type so that the human, JSON and SARIF renderers
/// see the same facts.
public struct Diagnostic: Sendable, Codable, Hashable {
    /// A secondary place that explains the primary one ("first defined here").
    public struct Note: Sendable, Codable, Hashable {
        /// What the note says about its place.
        public var message: String
        /// The place it points at, or nil for a note about the whole policy.
        package var span: SourceSpan?
        /// A note saying `message` about `span`.
        public init(_ message: String, at span: SourceSpan? = nil) {
            self.message = message
            self.span = span
        }
    }

    /// Whether the finding stops a compile (`error`) or only reports (`warning`, `note`).
    public var severity: Severity
    /// A stable identifier such as `undefined-reference`, for filtering and for SARIF rule ids.
    public var code: DiagnosticCode
    /// The sentence shown to the user, lower-case and naming the offending text.
    public var message: String
    /// The primary place, or nil when the finding is about no place in particular (an unreadable directory, a limit).
    package var span: SourceSpan?
    /// Secondary places that explain this one ("first defined here").
    package var notes: [Note]
    /// A one-line suggestion, such as a did-you-mean.
    package var help: String?

    /// A finding of `severity`; `notes` point at related places and `help` is a one-line suggestion.
    public init(
        _ severity: Severity, _ code: DiagnosticCode, _ message: String, at span: SourceSpan?,
        notes: [Note] = [], help: String? = nil
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.span = span
        self.notes = notes
        self.help = help
    }

    /// An error-severity diagnostic; the shorthand every stage uses.
    public static func error(
        _ code: DiagnosticCode, _ message: String, at span: SourceSpan?, notes: [Note] = [], help: String? = nil
    ) -> Diagnostic {
        Diagnostic(.error, code, message, at: span, notes: notes, help: help)
    }

    /// A warning-severity diagnostic (lint findings): reported, but the compile still produces tables.
    package static func warning(
        _ code: DiagnosticCode, _ message: String, at span: SourceSpan?, notes: [Note] = [], help: String? = nil
    ) -> Diagnostic {
        Diagnostic(.warning, code, message, at: span, notes: notes, help: help)
    }
}

/// The catalogue of diagnostic codes. Each is documented in Grammar.md.
public enum DiagnosticCode: String, Sendable, Codable, CaseIterable {
    // Errors
    case io = "io-error"
    case yaml = "yaml-syntax"
    case schema = "schema"
    case syntax = "rule-syntax"
    case duplicateName = "duplicate-name"
    case duplicateKey = "duplicate-key"
    case undefinedReference = "undefined-reference"
    case groupCycle = "group-cycle"
    case invalidKey = "invalid-key"
    case invalidAddress = "invalid-address"
    case hostBitsSet = "host-bits-set"
    case invalidPort = "invalid-port"
    case invalidRate = "invalid-rate"
    case invalidDuration = "invalid-duration"
    case invalidTime = "invalid-time"
    case invalidTimeZone = "invalid-time-zone"
    case testFailed = "test-failed"
    // Errors: limits (see PolicyLimits and CompileBudget)
    case fileTooLarge = "file-too-large"
    case tooManyFiles = "too-many-files"
    case tooManyEntries = "too-many-entries"
    case yamlTooDeep = "yaml-too-deep"
    case groupNestingTooDeep = "group-nesting-too-deep"
    case tooManyMemberships = "too-many-memberships"
    case tableTooLarge = "table-too-large"
    case ruleTooLong = "rule-too-long"
    case tooComplex = "policy-too-complex"
    case compileCancelled = "compile-cancelled"
    // Warnings
    case unreachableRule = "unreachable-rule"
    case redundantRule = "redundant-rule"
    case unusedGroup = "unused-group"
    case unusedHost = "unused-host"
    case unusedIdentity = "unused-identity"
    case allowAll = "allow-all"

    /// A one-sentence explanation, used as the SARIF rule description.
    package var summary: String {
        switch self {
        case .io: "A policy file could not be read."
        case .yaml: "The file is not well-formed YAML."
        case .schema: "A YAML key or value does not have the shape a policy file requires."
        case .syntax: "A rule, condition or test line does not follow the grammar."
        case .duplicateName: "A name is defined twice in the policy set."
        case .duplicateKey: "Two identities have the same WireGuard public key."
        case .undefinedReference: "A rule refers to a name that is not defined."
        case .groupCycle: "Groups include each other in a cycle."
        case .invalidKey: "A WireGuard public key is not the base64 of 32 bytes."
        case .invalidAddress: "An IP address or CIDR is malformed."
        case .hostBitsSet: "A CIDR has bits set below its prefix length."
        case .invalidPort: "A port or port range is out of range or reversed."
        case .invalidRate: "A rate is not a positive count per second, minute or hour."
        case .invalidDuration: "A duration is malformed or out of range."
        case .invalidTime: "A time condition's days or hours are malformed."
        case .invalidTimeZone: "A time zone is not a known IANA zone."
        case .testFailed: "A test in a tests: block does not get the decision it expects."
        case .fileTooLarge: "A policy file, or all files of a set together, is larger than the limit."
        case .tooManyFiles: "A policy directory holds more files than the limit."
        case .tooManyEntries: "A section or list has more entries than the limit, or YAML aliases expand the file too far."
        case .yamlTooDeep: "YAML collections are nested deeper than the limit."
        case .groupNestingTooDeep: "Groups include groups on a chain longer than the limit."
        case .tooManyMemberships: "Flattened group membership is larger than the limit."
        case .tableTooLarge: "The decision tables would be larger than the limit."
        case .ruleTooLong: "A rule or test line is longer than the limit."
        case .tooComplex: "Compiling took longer than the time allowed."
        case .compileCancelled: "The compile was cancelled before it finished."
        case .unreachableRule: "An allow rule is completely covered by a deny rule and can never allow anything."
        case .redundantRule: "A rule is completely covered by another rule with the same effect."
        case .unusedGroup: "A group is referenced by no rule and no other group."
        case .unusedHost: "A host alias is referenced by no rule."
        case .unusedIdentity: "An identity is matched by no rule's subject and can reach nothing."
        case .allowAll: "A rule allows every identity to reach every address."
        }
    }
}

/// Collects diagnostics from the stages of one run.
package struct DiagnosticBag: Sendable {
    /// Everything appended so far, in order.
    package private(set) var diagnostics: [Diagnostic] = []

    /// An empty bag.
    package init() {}

    /// Adds one diagnostic.
    package mutating func append(_ d: Diagnostic) { diagnostics.append(d) }
    /// Adds several diagnostics, keeping their order.
    package mutating func append(contentsOf ds: [Diagnostic]) { diagnostics.append(contentsOf: ds) }

    /// Whether any diagnostic is an error.
    package var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    /// The number of errors (a pass over the bag).
    package var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
    /// The number of warnings (a pass over the bag).
    package var warningCount: Int { diagnostics.filter { $0.severity == .warning }.count }

    /// Diagnostics in file, line, column order, so output is stable whatever order stages ran in.
    package var sorted: [Diagnostic] {
        diagnostics.sorted { a, b in
            let la = a.span?.start, lb = b.span?.start
            switch (la, lb) {
            case (nil, nil): return a.message < b.message
            case (nil, _): return true
            case (_, nil): return false
            case let (x?, y?):
                if x.file != y.file { return x.file < y.file }
                if x.line != y.line { return x.line < y.line }
                if x.column != y.column { return x.column < y.column }
                return a.message < b.message
            }
        }
    }
}
