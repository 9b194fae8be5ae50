import ArgumentParser
import Foundation
import PolicyCompiler

/// `ztpc verify`: check that a trusted key signed a bundle, as an edge would before loading it.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a bundle is intact and signed by a trusted key.",
        discussion: """
            Runs the checks an edge with trusted_publishers: runs before it loads a bundle. \
            Exit status: 0 when a trusted key signed it and it decodes; 1 when it is refused \
            (unsigned, signed only by untrusted keys, or a signature that does not verify); \
            2 on usage or I/O errors; 3 when the file is not an intact bundle (corrupt, truncated, \
            another format version).
            """)

    /// `verify`'s exit statuses beyond ``Status``.
    static let corrupt: Int32 = 3

    @Argument(help: "A bundle written by ztpc compile --sign.")
    var bundle: String

    @Option(help: ArgumentHelp(
        "Trusted public keys, comma-separated: base64, or paths of KEY.pub files.", valueName: "pub[,pub...]"))
    var trusted: String

    func run() throws {
        let keys = try Self.trustedKeys(trusted)
        guard let data = FileManager.default.contents(atPath: bundle) else {
            throw UsageFailure("\(bundle): cannot read")
        }
        do {
            let opened = try SignedBundle.open([UInt8](data), trusted: keys)
            Console.out(
                "ok: \(bundle) signed by \(opened.signer), sha256:\(PolicyBundle.contentHash([UInt8](data))), \(opened.tables.rules.count) rules\n")
        } catch {
            Console.err("refused: \(bundle): \(error)\n")
            if case .corrupt = error { throw ExitCode(Self.corrupt) }
            throw ExitCode(Status.findings)
        }
    }

    /// The keys of `--trusted`, or a usage failure naming the item that is not a key.
    static func trustedKeys(_ argument: String) throws -> [SigningPublicKey] {
        var keys: [SigningPublicKey] = []
        for item in argument.split(separator: ",", omittingEmptySubsequences: true) {
            do {
                keys.append(try SigningPublicKey(base64OrFile: String(item.trimmingCharacters(in: .whitespaces))))
            } catch {
                throw UsageFailure("--trusted: \(error)")
            }
        }
        guard !keys.isEmpty else { throw UsageFailure("--trusted needs at least one public key") }
        return keys
    }
}
