import ArgumentParser
import Fleet
import Foundation

/// `ztpc rollback`: point the fleet back at a bundle already stored in etcd.
struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Point every edge back at the previous bundle, or at one named by its hash.",
        discussion: """
            Moves PREFIX/current in one transaction guarded by the revision just read; the bundle \
            must be stored in etcd already (every published bundle is). Exit status: 0 moved (or \
            already current), 2 usage error or unknown bundle, 3 someone published meanwhile \
            (nothing changed), 4 etcd unreachable or refused the request.
            """)

    @OptionGroup var etcd: EtcdOptions

    @Option(help: "The SHA-256 (hex) of the bundle to go back to, as `ztpc fleet status` shows it.")
    var to: String?

    @Flag(help: "Go back to the bundle before the current one.")
    var previous = false

    @Option(help: "Who rolls back, as recorded in the pointer (default: USER@HOST).")
    var publisher: String?

    func validate() throws {
        guard (to != nil) != previous else { throw ValidationError("give exactly one of --to HASH and --previous") }
        if let to, !BundleHash.isValid(to.lowercased()) { throw ValidationError("--to takes a SHA-256 in hex (64 digits)") }
    }

    func run() throws {
        let target: Publisher.RollbackTarget = to.map { .hash($0.lowercased()) } ?? .previous
        let name = publisher ?? defaultPublisherName()
        let outcome = try etcd.withFleet { client, layout in
            do {
                return try await Publisher(client: client, layout: layout, publisherName: name, logger: quietLogger("ztpc.rollback")).rollback(to: target)
            } catch {
                throw fleetFailure(error)
            }
        }
        if outcome.changed {
            Console.out("rolled back to \(outcome.pointer.hash) at revision \(outcome.revision); previous: \(outcome.pointer.previous ?? "none")\n")
        } else {
            Console.out("\(outcome.pointer.hash) is already current; nothing was changed\n")
        }
    }
}
