import FuzzTargets

/// Fuzz executable for `FuzzTargets.packet`: libFuzzer under `scripts/fuzz`, a replayer of the files
/// named as arguments otherwise.
@main
enum FuzzPacket {
    static func main() {
        FuzzMain.run(FuzzTargets.packet)
    }
}
