import FuzzTargets

/// Fuzz executable for `FuzzTargets.daemonConfig`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzDaemonConfig {
    static func main() {
        FuzzMain.run(FuzzTargets.daemonConfig)
    }
}
