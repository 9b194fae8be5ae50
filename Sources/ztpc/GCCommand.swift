import ArgumentParser
import Fleet
import Foundation

/// `ztpc gc`: delete old bundles from etcd, keeping the current one, its previous one and the last K.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete old bundles from etcd, keeping the current one, the previous one and the last K.",
        discussion: """
            Every publish stores its bundle (about 6 MB for 10,000 rules) under PREFIX/bundles/; without \
            collection etcd's quota (2 GB by default) fills and etcd refuses every write. `ztpc publish` \
            collects after each publish (--keep); this command does it alone. Kept: the bundle the pointer \
            names, the pointer's previous bundle (what `rollback --previous` uses, and a canary's other \
            edges), and the K most recently published others. Also deleted: chunks an interrupted \
            publish left behind. Each delete is one etcd transaction that changes nothing when the \
            pointer moved meanwhile.

            Deleting keys frees etcd's space only once its history is compacted: --compact compacts \
            it up to the last delete (for the whole etcd cluster, not only the fleet's prefix), or let \
            etcd do it (--auto-compaction-retention). `etcdctl defrag` on each member then shrinks the \
            database file; that stays the operator's, as it blocks the member while it runs.

            Exit status: 0 done, 2 usage error, 3 publishes kept moving the pointer (run it again), \
            4 etcd unreachable or refused the request.
            """)

    @OptionGroup var etcd: EtcdOptions

    @Option(help: "How many bundles to keep besides the current one (the previous one is always kept).")
    var keep = BundleCollector.defaultKeep

    @Flag(help: "Compact etcd's history up to the last delete, so that etcd can reuse the space (cluster-wide).")
    var compact = false

    func validate() throws {
        if keep < 0 { throw ValidationError("--keep takes a number of bundles, 0 or more") }
    }

    func run() throws {
        let (keep, compact) = (self.keep, self.compact)
        let outcome = try etcd.withFleet { client, layout in
            do {
                return try await BundleCollector(client: client, layout: layout, logger: quietLogger("ztpc.gc")).collect(keep: keep, compact: compact)
            } catch {
                throw fleetFailure(error)
            }
        }
        Console.out(Self.summary(outcome) + "\n")
    }

    /// One line: what was deleted and kept.
    static func summary(_ outcome: BundleCollector.Outcome) -> String {
        var text = "gc: deleted \(outcome.deleted.count) bundle\(outcome.deleted.count == 1 ? "" : "s")"
        if !outcome.orphansDeleted.isEmpty { text += " and \(outcome.orphansDeleted.count) unfinished upload\(outcome.orphansDeleted.count == 1 ? "" : "s")" }
        text += " (\(outcome.keysDeleted) keys), kept \(outcome.kept.count)"
        if let revision = outcome.compactedTo { text += "; compacted etcd's history to revision \(revision)" }
        return text
    }
}
