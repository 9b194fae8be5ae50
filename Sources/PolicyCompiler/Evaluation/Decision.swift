import PolicyLang

/// The answer to one access question, with what the enforcer needs to cache and rate-limit it.
public struct Decision: Sendable, Equatable {
    /// Why the verdict is what it is; the raw values are the words of the decision log.
    public enum Reason: String, Sendable {
        /// At least one allow rule matched and no deny did.
        case allowed
        /// A deny rule matched (it beats every allow).
        case denied
        /// Default deny: no rule matches this identity and destination.
        case noRuleMatched = "no-rule-matched"
        /// The peer's key is not in the policy's identities.
        case unknownIdentity = "unknown-identity"
    }

    /// Allow or deny.
    public var verdict: Verdict
    /// Which case of the evaluation produced the verdict.
    public var reason: Reason
    /// Indices (into ``DecisionTables/rules``) of the rules that produced the verdict.
    ///
    /// A slice: precomputed decisions share one pool of rule lists, so returning one touches a
    /// single, hot buffer instead of a cold array per decision.
    public var rules: ArraySlice<Int32>
    /// Allow rules that matched but lost to a deny.
    package var overridden: ArraySlice<Int32>
    /// How long the decision may be cached, before time windows are taken into account.
    public var ttlMilliseconds: Int64
    /// For an allow: the new-flow rate of the rule the flow is charged to.
    public var rate: Rate?
    /// The rule a new flow is charged to for rate limiting, or -1.
    package var rateRule: Int32
    /// The instant (Unix milliseconds) after which the decision must be made again: now + ttl,
    /// or earlier when a time window of a matching rule opens or closes.
    public var validUntilMilliseconds: Int64
}
