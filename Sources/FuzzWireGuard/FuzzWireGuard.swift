import FuzzTargets

/// Fuzz executable for `FuzzTargets.wireGuard`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzWireGuard {
    static func main() {
        FuzzMain.run(FuzzTargets.wireGuard)
    }
}
