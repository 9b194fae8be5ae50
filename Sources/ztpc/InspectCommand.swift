import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc inspect`: summarize a bundle.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the summary of a compiled bundle.")

    @Argument(help: "A bundle written by ztpc compile.")
    var file: String

    @Flag(help: "List the rules and identities too.")
    var verbose = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw UsageFailure("\(file): cannot read") }
        let bytes = [UInt8](data)
        let tables: DecisionTables
        let parts: SignedBundle.Parts
        do {
            tables = try SignedBundle.decodeIgnoringSignatures(bytes)
            parts = try SignedBundle.split(bytes)
        } catch {
            throw UsageFailure("\(file): \(error)")
        }
        let hex = tables.sourceHash.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        Console.out(
            """
            bundle:       \(file)
            format:       version \(PolicyBundle.formatVersion)
            content hash: sha256:\(PolicyBundle.contentHash(bytes))
            signed by:    \(Self.signers(parts))
            source hash:  sha256:\(hex)
            policies:     \(tables.policyNames.joined(separator: ", "))
            rules:        \(tables.rules.count) (\(tables.rules.filter { $0.action == .allow }.count) allow, \(tables.rules.filter { $0.action == .deny }.count) deny)
            identities:   \(tables.identities.count) in \(tables.classCount) classes
            address map:  \(tables.v4Starts.count) IPv4 and \(tables.v6Starts.count) IPv6 segments
            port tables:  \(tables.portTables.count); cells: \(tables.cells.count)
            time windows: \(tables.atoms.count) in \(tables.zones.count) zones
            blocked:      \(tables.blockedSources.isEmpty ? "none" : tables.blockedSources.map(\.description).joined(separator: ", "))
            defaults:     cache ttl \(Duration(ms: tables.defaultTTLMilliseconds)), rate \(tables.defaultRate)

            """)
        if verbose {
            Console.out("rules:\n")
            for r in tables.rules {
                Console.out("  \(r.id)  \(r.action.rawValue)  rate \(r.rate)  ttl \(Duration(ms: r.ttlMilliseconds))  \(r.file):\(r.line):\(r.column)\n")
            }
            Console.out("identities:\n")
            for i in tables.identities {
                Console.out("  \(i.name)  \(i.key)  class \(i.classIndex)  evaluations \(i.evaluationRate)\n")
            }
        }
    }

    /// Each signer and whether its signature verifies against its own key; trust is ztpc
    /// verify's question, not this one's.
    static func signers(_ parts: SignedBundle.Parts) -> String {
        guard !parts.signatures.isEmpty else { return "nobody (unsigned)" }
        return parts.signatures.map { s in
            "\(s.signer) (\(s.signer.verifies(s.bytes, of: parts.bundle) ? "signature valid" : "SIGNATURE DOES NOT VERIFY"))"
        }.joined(separator: "\n              ")
    }
}
