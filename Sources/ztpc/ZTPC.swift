import ArgumentParser
import Edge
import Foundation

/// `ztpc`: lint, test, explain and compile ztp policies.
@main
struct ZTPC: ParsableCommand {
    /// The release version, shared with ztpd (`Edge.BuildInfo`).
    static let version = BuildInfo.version

    static let configuration = CommandConfiguration(
        commandName: "ztpc",
        abstract: "Lint, test, explain and compile ztp access policies.",
        discussion: """
            Exit status: 0 when clean, 1 when the policy has errors (or warnings with --strict) or a \
            test fails, 2 on usage or I/O errors. The fleet commands (publish, rollback, fleet status) \
            add 3 when someone published meanwhile (nothing was changed) and 4 when etcd cannot be \
            reached or refuses the request.
            """,
        version: BuildInfo.versionLine,
        subcommands: [
            CheckCommand.self, TestCommand.self, ExplainCommand.self, CompileCommand.self, InspectCommand.self, KeygenCommand.self, VerifyCommand.self,
            EvalCommand.self, StatusCommand.self, DiffCommand.self, WhoCanCommand.self, CanCommand.self, SchemaCommand.self, FmtCommand.self,
            PublishCommand.self, RollbackCommand.self, GCCommand.self, FleetCommand.self,
        ]
    )

    /// Runs the command, mapping argument errors to exit status 2 as the documentation promises
    /// (swift-argument-parser's own default is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as UsageFailure {
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            Foundation.exit(Status.usage)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                // Help, --version, completion scripts and --experimental-dump-help (which the
                // man page generator reads) are answers, not errors: they go to standard output.
                let stream = code == .success ? FileHandle.standardOutput : FileHandle.standardError
                stream.write(Data((message + "\n").utf8))
            }
            if code == .validationFailure {
                Foundation.exit(2)
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Exit statuses of every subcommand.
enum Status {
    static let clean: Int32 = 0
    static let findings: Int32 = 1
    static let usage: Int32 = 2
}

/// A failure that is reported with a plain message and exit status 2 (usage or I/O).
struct UsageFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
