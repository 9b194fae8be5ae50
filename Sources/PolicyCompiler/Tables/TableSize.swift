import PolicyLang

/// The bound on the decision tables, checked while the address partition is swept and before
/// the segment maps are allocated.
///
/// Two structures grow faster than the input. The segment maps hold one entry per identity
/// class and address segment: classes grow with identities that rules treat differently,
/// segments with distinct target addresses, and the product with neither alone (a 6 MiB file
/// of 2,000 identities, each with a rule of its own over 200 addresses, would ask for 6 GiB in
/// one allocation). And the partition lists, for each segment, the targets that cover it: many
/// rules on one wide prefix and many narrow targets inside it make that segments × rules.
/// Both are held to ``PolicyLimits/maxTableEntries``; the sweep also checks the compile budget.
struct TableSize {
    let limits: PolicyLimits
    let budget: CompileBudget?
    private var members = 0
    private var segments = 0

    init(limits: PolicyLimits, budget: CompileBudget?) {
        self.limits = limits
        self.budget = budget
    }

    /// Counts the covering targets of one more segment of the partition.
    mutating func add(members count: Int) throws(CompileInterrupted) {
        members += count
        segments += 1
        if segments % 1024 == 0 { try budget?.check() }
        guard members > limits.maxTableEntries else { return }
        throw .limitExceeded(
            .error(
                .tableTooLarge,
                "the address partition would list more than \(limits.maxTableEntries) covering targets over its segments",
                at: nil,
                help: "many rules on one wide prefix with many narrow targets inside it multiply; merge the rules on the wide prefix"))
    }

    /// Checks the segment maps' size before they are allocated.
    func check(classes: Int, segments: Int) throws(CompileInterrupted) {
        let (entries, overflow) = classes.multipliedReportingOverflow(by: segments)
        guard overflow || entries > limits.maxTableEntries else { return }
        throw .limitExceeded(
            .error(
                .tableTooLarge,
                "the decision tables would need \(classes) identity classes × \(segments) address segments; the limit is \(limits.maxTableEntries) entries",
                at: nil,
                help: "identities that rules treat differently each make a class: give identities shared tags or groups, and rules shared hosts"))
    }
}
