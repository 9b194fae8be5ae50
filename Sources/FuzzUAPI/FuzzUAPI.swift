import FuzzTargets

/// Fuzz executable for `FuzzTargets.uapiSet`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzUAPI {
    static func main() {
        FuzzMain.run(FuzzTargets.uapiSet)
    }
}
