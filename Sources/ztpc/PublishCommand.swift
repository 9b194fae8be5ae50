import ArgumentParser
import Etcd
import Fleet
import Foundation
import PolicyCompiler

/// `ztpc publish`: check, test and compile a policy, then point the fleet at it through etcd.
struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Compile a policy and publish it to every edge through etcd.",
        discussion: """
            Reads the fleet's pointer (PREFIX/current), then checks, tests and compiles the policy as \
            `ztpc compile` does (and signs it with each --sign key), stores the bundle under its SHA-256 in etcd (zlib-compressed, in 1 MiB chunks) and moves \
            the pointer to it in one transaction guarded by the pointer's revision read first. If someone \
            published meanwhile, nothing is changed and the exit status is 3.

            Exit status: 0 published (or already current), 1 the policy has errors or a test fails, \
            2 usage or I/O error, 3 someone published meanwhile (nothing changed), 4 etcd unreachable \
            or refused the request.

            With --bundle FILE instead of policy paths, publishes a bundle compiled (and signed) \
            earlier by `ztpc compile`, after checking that it is one.
            """)

    @Argument(help: "Policy directories or files.")
    var paths: [String] = []

    @Option(help: "Publish this bundle (from ztpc compile, signed or not) instead of compiling policy paths.")
    var bundle: String?

    @OptionGroup var etcd: EtcdOptions

    @Option(help: "Roll out to this percentage of the edges only (a canary, by a stable hash of each edge's name); the others keep the previous bundle.")
    var rollout: Int?

    @Option(help: "Who publishes, as recorded in the pointer (default: USER@HOST).")
    var publisher: String?

    @Option(help: "Publish only if the pointer is still at this revision (as `ztpc fleet status` shows it): nothing published since it was reviewed.")
    var expectRevision: Int64?

    @Option(help: "After publishing, delete old bundles from etcd, keeping this many besides the current one (and always the previous one); as `ztpc gc --keep`.")
    var keep = BundleCollector.defaultKeep

    @Flag(help: "Store the bundle in etcd as it is, not zlib-compressed: for edges older than compressed bundles, which refuse them.")
    var uncompressed = false

    @Option(help: "Output format for diagnostics: human, json or sarif.")
    var format: OutputFormat = .human

    @Option(help: ArgumentHelp(
        "Sign the bundle with this secret key (from ztpc keygen; mode 0600), as ztpc compile --sign does. Repeat to add signatures.",
        valueName: "key"))
    var sign: [String] = []

    func validate() throws {
        guard paths.isEmpty != (bundle == nil) else { throw ValidationError("give policy paths or --bundle FILE, not both or neither") }
        if let rollout, !(1...100).contains(rollout) { throw ValidationError("--rollout takes a percentage from 1 to 100") }
        if let expectRevision, expectRevision < 0 { throw ValidationError("--expect-revision takes a revision (0: nothing published yet)") }
        if keep < 0 { throw ValidationError("--keep takes a number of bundles, 0 or more") }
    }

    func run() throws {
        // Keys first: a refused key file stops the command before etcd is asked anything.
        let keys = try loadSigningKeys(sign)
        let name = publisher ?? defaultPublisherName()
        let rollout = self.rollout
        let paths = self.paths
        let format = self.format
        let compiled = try bundle.map(Self.readBundle)
        let expected = expectRevision
        let keep = self.keep
        let compression: BundleCompression? = uncompressed ? nil : .zlib
        let (outcome, collection) = try etcd.withFleet { client, layout in
            let publisher = Publisher(
                client: client, layout: layout, publisherName: name, compression: compression, logger: quietLogger("ztpc.publish"))
            do {
                // Read before compiling: a publish made while this one compiles must not be overwritten unseen.
                let read = try await publisher.currentPointer()
                if let expected, read.revision != expected {
                    throw FleetError.publishedMeanwhile(revision: read.revision, hash: read.pointer?.hash)
                }
                let bytes = try compiled.map { try Self.sign($0, with: keys) } ?? Self.compile(paths, format: format, signedWith: keys)
                let outcome = try await publisher.publish(bytes, rollout: rollout, basedOn: read)
                return (outcome, await Self.collect(client: client, layout: layout, keep: keep))
            } catch {
                throw fleetFailure(error)
            }
        }
        let pointer = outcome.pointer
        let rolloutText = pointer.rollout.map { ", rollout \($0.percent) %" } ?? ""
        if outcome.changed {
            Console.out(
                "published \(pointer.hash) (\(outcome.manifest.size) bytes\(outcome.manifest.compression.map { ", \(outcome.manifest.bytesStored) as \($0.rawValue)," } ?? "") in \(outcome.manifest.chunks) chunk\(outcome.manifest.chunks == 1 ? "" : "s")) "
                    + "at revision \(outcome.revision)\(rolloutText); previous: \(pointer.previous ?? "none")\n")
        } else {
            Console.out("\(pointer.hash) is already current (revision \(outcome.revision)\(rolloutText)); nothing was changed\n")
        }
        switch collection {
        case .success(let collected): Console.out(GCCommand.summary(collected) + "\n")
        case .failure(let error): FileHandle.standardError.write(Data("warning: published, but old bundles were not deleted: \(error)\n".utf8))
        }
    }

    /// The garbage collection after a publish: its failure does not undo the publish, so it is
    /// reported as a warning (`ztpc gc` can run it again).
    static func collect(client: EtcdClient, layout: FleetLayout, keep: Int) async -> Result<BundleCollector.Outcome, Error> {
        do {
            return .success(try await BundleCollector(client: client, layout: layout, logger: quietLogger("ztpc.gc")).collect(keep: keep))
        } catch {
            return .failure(error)
        }
    }

    /// The bundle's bytes, compiled exactly as `ztpc compile` compiles (check, lint, tests), and
    /// signed with each key.
    static func compile(_ paths: [String], format: OutputFormat, signedWith keys: [SigningKey]) throws -> Data {
        let compilation = PolicyCompiler.compile(paths: paths)
        let errors = compilation.diagnostics.filter { $0.severity == .error }
        guard let tables = compilation.tables, errors.isEmpty else {
            DiagnosticPrinter(format: format).print(compilation.diagnostics, sources: compilation.sources)
            throw ExitCode(errors.contains { $0.code == .io } ? Status.usage : Status.findings)
        }
        // encode's output is a well-formed bundle, which is all sign refuses.
        return try sign(PolicyBundle.encode(tables), with: keys)
    }

    static func sign(_ bundle: [UInt8], with keys: [SigningKey]) throws -> Data {
        var bytes = bundle
        for key in keys { bytes = try SignedBundle.sign(bytes, with: key) }
        return Data(bytes)
    }

    /// A compiled bundle's bytes, refused unless they decode as a bundle (signatures are the edges' to check).
    static func readBundle(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsageFailure("cannot read the bundle \(path)") }
        let bytes = [UInt8](data)
        do {
            _ = try SignedBundle.decodeIgnoringSignatures(bytes)
        } catch {
            throw UsageFailure("\(path) is not a policy bundle: \(error)")
        }
        return bytes
    }
}
