/// The bounds on policy input that keep one hostile or mistaken file from taking a compile's
/// time and memory without end. Every limit has its own diagnostic code (see Grammar.md,
/// "Limits"), and the defaults are what `ztpc` and `ztpd` use.
///
/// Together they bound memory: files are measured with `stat` before they are read, so nothing
/// larger than ``maxFileBytes`` is ever read or parsed; a file's YAML tree is refused if its
/// aliases expand it beyond two values per byte of text; and the two
/// structures that can grow faster than the input, flattened group membership and the decision
/// tables' segment maps, are held to ``maxMemberships`` and ``maxTableEntries``.
/// Time is bounded separately, by a ``CompileBudget``.
public struct PolicyLimits: Sendable, Equatable {
    /// Bytes of one policy file (8 MiB; the whole 10,000-rule benchmark set is 790 KiB).
    var maxFileBytes: Int = 8 << 20
    /// Bytes of all the files of one compile together (32 MiB).
    var maxTotalBytes: Int = 32 << 20
    /// Policy files in one directory.
    var maxFilesPerDirectory: Int = 1_000
    /// Entries of each section (`identities`, `groups`, `hosts`, `rules`, `tests`, `block`),
    /// counted over all the files of a set.
    var maxSectionEntries: Int = 100_000
    /// Items of one list: members of one group, addresses of one host, tags of one identity.
    var maxListItems: Int = 100_000
    /// Groups on the longest chain of groups that include groups (a group of users only is 1).
    package var maxGroupNesting: Int = 1_024
    /// Users in all groups and groups of all identities, once nesting is flattened.
    package var maxMemberships: Int = 4_000_000
    /// Depth of YAML collections inside collections (a policy file needs about 5).
    var maxYAMLNesting: Int = 64
    /// Characters of one rule or test line.
    var maxRuleLength: Int = 4_096
    /// Entries of the decision tables' segment maps: identity classes times address segments
    /// (64 Mi entries, 256 MiB; the 10,000-rule benchmark set needs 0.4 Mi). Checked before
    /// the maps are allocated: a few thousand identities with rules of their own over many
    /// distinct addresses would otherwise ask for gigabytes at once.
    package var maxTableEntries: Int = 1 << 26

    /// The defaults, which are ``default``'s; change single fields to tighten or loosen.
    public init() {}

    /// The limits `ztpc` and `ztpd` apply.
    public static let `default` = PolicyLimits()
}
