import ArgumentParser
import Foundation
import PolicyCompiler

/// `ztpc keygen`: make a policy signing key pair.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signing policy bundles.",
        discussion: """
            Writes the secret key to PATH (mode 0600) and the public key, in base64, to PATH.pub, and \
            prints the public key. Give PATH to ztpc compile --sign and the public key (or PATH.pub) \
            to trusted_publishers: in the edges' daemon config. Never replaces an existing file.
            """)

    @Option(name: .long, help: ArgumentHelp("The secret key file to create.", valueName: "path"))
    var out: String

    func run() throws {
        let publicPath = out + ".pub"
        // Check the .pub first: nothing is written when either file exists.
        guard !FileManager.default.fileExists(atPath: publicPath) else {
            throw UsageFailure("\(publicPath): already exists; not replacing a key (remove it first if you mean to)")
        }
        let key = SigningKey()
        do {
            try key.writeKeyFile(out)
        } catch {
            throw UsageFailure("\(error)")
        }
        let fd = open(publicPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        let line = Array((key.publicKey.base64 + "\n").utf8)
        guard fd >= 0, write(fd, line, line.count) == line.count else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            // A secret without its public half is useless and would block the next attempt.
            unlink(out)
            throw UsageFailure("\(publicPath): cannot write: \(reason)")
        }
        close(fd)
        Console.out("\(key.publicKey.base64)\n")
    }
}
