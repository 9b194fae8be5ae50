import FuzzTargets

/// Fuzz executable for `FuzzTargets.policyPipeline`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzPolicy {
    static func main() {
        FuzzMain.run(FuzzTargets.policyPipeline)
    }
}
