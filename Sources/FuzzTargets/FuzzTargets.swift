/// The fuzz targets: one function per parser that takes arbitrary bytes, runs them through the
/// real code and checks, with `precondition`, invariants that must hold whatever the bytes were.
///
/// Each function is called by a thin executable (`FuzzPolicy`, `FuzzBundle`, ...) under
/// libFuzzer (see ``FuzzMain``, `scripts/fuzz`), and by `FuzzTargetsTests`, which replays the
/// seed corpus and every saved crash input in `Fuzz/`. A `precondition` here is the point: a
/// violated invariant is a finding, and libFuzzer saves the input that caused it.
public enum FuzzTargets {}

extension FuzzTargets {
    /// Every target by the name `scripts/fuzz` and the `Fuzz/corpus/NAME` directories use.
    public static let byName: [String: @Sendable ([UInt8]) -> Void] = [
        "policy": policyPipeline, "policy-parse": policyParse, "bundle": bundle, "wireguard": wireGuard, "packet": packet,
        "daemon-config": daemonConfig, "uapi": uapiSet, "offload": offload,
    ]
}
