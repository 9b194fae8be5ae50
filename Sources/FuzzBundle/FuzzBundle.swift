import FuzzTargets

/// Fuzz executable for `FuzzTargets.bundle`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzBundle {
    static func main() {
        FuzzMain.run(FuzzTargets.bundle)
    }
}
