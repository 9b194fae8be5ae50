import FuzzTargets

/// Fuzz executable for `FuzzTargets.offload`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzOffload {
    static func main() {
        FuzzMain.run(FuzzTargets.offload)
    }
}
