import FuzzTargets

/// Fuzz executable for `FuzzTargets.policyParse`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzPolicyParse {
    static func main() {
        FuzzMain.run(FuzzTargets.policyParse)
    }
}
