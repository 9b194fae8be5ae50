import Atomics
import Foundation
import PolicyCompiler
import PolicyLang

/// One loaded policy: its tables and its generation number.
public final class PolicyGeneration: AtomicReference, Sendable {
    /// The compiled policy packets are decided against.
    public let tables: DecisionTables
    /// Counts loads from 1; cached decisions remember the generation that made them.
    public let number: UInt64
    /// Where it came from (a directory or a bundle path), for logs and status.
    public let origin: String
    /// When this generation was put in force, for status output.
    package let loadedAt: Date

    /// A generation of `tables` numbered `number`; the store numbers generations itself, this is for building
    /// one to install by hand or in tests.
    public init(tables: DecisionTables, number: UInt64, origin: String, loadedAt: Date = Date()) {
        self.tables = tables
        self.number = number
        self.origin = origin
        self.loadedAt = loadedAt
    }
}

/// Holds the policy in force. Readers load it with one atomic read and never block; a reload
/// builds the next generation elsewhere and swaps it in with one atomic store.
public final class PolicyStore: Sendable {
    private let current: ManagedAtomic<PolicyGeneration>
    /// The number of the generation in force, readable without retaining the generation: the
    /// per-packet check that a cached decision is current reads only this.
    private let currentNumber = ManagedAtomic<UInt64>(1)

    /// A store whose first generation (number 1) is `tables`.
    public init(_ tables: DecisionTables, origin: String) {
        current = ManagedAtomic(PolicyGeneration(tables: tables, number: 1, origin: origin))
    }

    /// The number of the generation in force (may run ahead of ``generation`` for an instant
    /// during a reload; a reader that sees it ahead just takes the slow path).
    @inline(__always)
    var generationNumber: UInt64 { currentNumber.load(ordering: .acquiring) }

    /// The generation in force.
    @inline(__always)
    public var generation: PolicyGeneration { current.load(ordering: .acquiring) }

    /// Puts `tables` in force as the next generation and returns it. Reloads are serialized by
    /// the caller (one reloader); readers see either the old or the new generation, whole.
    @discardableResult
    public func install(_ tables: DecisionTables, origin: String) -> PolicyGeneration {
        let next = PolicyGeneration(tables: tables, number: generation.number + 1, origin: origin)
        current.store(next, ordering: .releasing)
        currentNumber.store(next.number, ordering: .releasing)
        return next
    }
}

/// Where a daemon takes its policy from.
public enum PolicySource: Sendable, CustomStringConvertible {
    /// A directory of `*.yaml` files, compiled at each load; its tests must pass.
    case directory(String)
    /// A bundle written by `ztpc compile`.
    case bundle(String)

    /// The directory or bundle path.
    public var description: String {
        switch self {
        case .directory(let d): d
        case .bundle(let b): b
        }
    }

    /// A load that did not produce tables: the diagnostics (with file:line:column) or the
    /// bundle error, ready to log.
    public struct LoadFailure: Error, CustomStringConvertible {
        /// The compiler's diagnostics, when the failure was in the policy's text; empty for a bundle that
        /// could not be read.
        public var diagnostics: [Diagnostic]
        /// The whole failure as one line (or several) for a log.
        public var message: String
        /// The same as ``message``.
        public var description: String { message }
    }

    /// Compiles or reads the policy. Off the data path: this can take a while for large sets;
    /// a compile that runs out of `budget` (or is cancelled through it) fails with that
    /// diagnostic. Signatures on a bundle are not checked (see ``loadPolicy(trust:now:budget:)``).
    public func load(
        now: Int64 = Int64(Date().timeIntervalSince1970 * 1000), budget: CompileBudget? = nil
    ) throws(LoadFailure) -> DecisionTables {
        try loadPolicy(trust: .anyBundle, now: now, budget: budget).tables
    }

    /// ``load(now:budget:)`` under `trust`: a bundle must be signed by a trusted publisher when
    /// `trust` names any, and a directory is refused then, since sources carry no signature.
    package func loadPolicy(
        trust: BundleTrust, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000), budget: CompileBudget? = nil
    ) throws(LoadFailure) -> LoadedPolicy {
        switch self {
        case .directory(let path):
            guard case .anyBundle = trust else {
                throw LoadFailure(
                    diagnostics: [],
                    message: "\(path): a policy directory carries no signature, and trusted publishers are required; give a bundle from ztpc compile --sign")
            }
            var options = PolicyCompiler.Options()
            options.lint = false
            options.now = now
            options.budget = budget
            let c = PolicyCompiler.compile(paths: [path], options: options)
            guard let tables = c.tables else {
                let errors = c.diagnostics.filter { $0.severity == .error }
                let text = errors.map { "\($0.span.map { "\($0.start): " } ?? "")\($0.message) [\($0.code.rawValue)]" }
                throw LoadFailure(diagnostics: errors, message: text.joined(separator: "; "))
            }
            return LoadedPolicy(tables: tables, bundleHash: nil, signer: nil)
        case .bundle(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LoadFailure(diagnostics: [], message: "\(path): cannot read the bundle")
            }
            return try Self.open(bundle: [UInt8](data), origin: path, trust: trust)
        }
    }

    /// Opens bundle bytes from anywhere (a file, or a remote source through the edge's install
    /// path) under `trust`: checksum, then signature, then the tables. `contentHash` is the
    /// SHA-256 of `bytes` when the caller has it already (it is computed otherwise).
    package static func open(
        bundle bytes: [UInt8], origin: String, trust: BundleTrust, contentHash: String? = nil
    ) throws(LoadFailure) -> LoadedPolicy {
        do {
            let accepted = try trust.open(bytes)
            return LoadedPolicy(tables: accepted.tables, bundleHash: contentHash ?? PolicyBundle.contentHash(bytes), signer: accepted.signer)
        } catch {
            throw LoadFailure(diagnostics: [], message: "\(origin): \(error)")
        }
    }
}

/// A policy as its source gave it: the tables and, for a bundle, what names and vouches for it.
package struct LoadedPolicy: Sendable {
    package var tables: DecisionTables
    /// The SHA-256 of the bundle's bytes (signatures included), in hex; nil for a directory.
    package var bundleHash: String?
    /// The trusted publisher whose signature verified; nil when signatures were not required.
    package var signer: SigningPublicKey?
}
