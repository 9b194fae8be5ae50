import Foundation

#if FUZZING
/// libFuzzer's driver, from `libclang_rt.fuzzer_no_main` (linked by `scripts/fuzz`). SwiftPM
/// renames an executable's entry point, which breaks libFuzzer's own `main`, so the executables
/// keep their `@main` and hand over to the driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The target the C callback calls: a C function pointer cannot capture it. Set once, before the
/// driver starts; libFuzzer calls back on one thread.
nonisolated(unsafe) private var currentTarget: (([UInt8]) -> Void)?
#endif

/// The body of every fuzz executable.
///
/// Built with `-DFUZZING` (and the sanitizer and coverage flags of `scripts/fuzz`), it runs
/// libFuzzer with the process's arguments. In a normal build it replays the files (or every file
/// of the directories) named as arguments through the target, which is how a crash input is
/// reproduced under a debugger, and keeps the executables building in `swift build`.
public enum FuzzMain {
    /// Runs `target` under libFuzzer or over the files named on the command line; never returns.
    public static func run(_ target: @escaping ([UInt8]) -> Void) -> Never {
        #if FUZZING
        currentTarget = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            currentTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        let files = CommandLine.arguments.dropFirst().flatMap(Self.files(at:))
        for file in files {
            guard let bytes = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                exit(2)
            }
            target(Array(bytes))
        }
        FileHandle.standardError.write(Data("replayed \(files.count) inputs\n".utf8))
        exit(0)
        #endif
    }

    /// The path itself, or the regular files of a directory, sorted so that replays are repeatable.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }
    }
}
