import Foundation

/// Runs a program (by default the built `ztpc`) in an optional directory and collects its output.
struct ProcessRun {
    var status: Int32
    var out: String
    var err: String

    static func ztpc(_ args: [String], in directory: String? = nil) throws -> ProcessRun {
        try run(ZTPCCommandTests.binary, args, in: directory)
    }

    static func run(_ binary: URL, _ args: [String], in directory: String? = nil) throws -> ProcessRun {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return ProcessRun(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }
}
