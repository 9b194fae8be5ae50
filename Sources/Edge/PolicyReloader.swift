import Enforcer
import Foundation
import Logging
import PolicyCompiler
import PolicyLang

/// Compiles the policy again off the data path, one compile at a time, the newest request
/// winning.
///
/// A request that arrives while a compile runs cancels it through its ``CompileBudget`` (the
/// files it is reading are already out of date) and the worker starts over with the newest
/// files; requests that arrive together are served by one compile. Every compile has a time
/// limit, so no input can wedge the worker: a compile past it fails with `policy-too-complex`.
/// A refused or timed-out compile leaves the policy in force, is logged with its diagnostics,
/// and is counted as a reload failure with its message as ``Counters/lastError``.
final class PolicyReloader: @unchecked Sendable {
    /// What `ztpc status` and the metrics show.
    struct Counters {
        var reloads: UInt64 = 0
        var failures: UInt64 = 0
        /// Compiles abandoned for a newer change (not failures: the newer compile decides).
        var superseded: UInt64 = 0
        var lastError: String?
        /// When the last refusal happened; kept after a later success, for status.
        var lastErrorAt: Date?
        /// The content hash of the bundle in force (nil for a directory).
        var bundleHash: String?
        /// The trusted publisher that signed the bundle in force (nil when not required).
        var signer: SigningPublicKey?
    }

    private struct Request {
        var reason: String
        var completion: (@Sendable (Bool) -> Void)?
    }

    private let source: PolicySource
    private let trust: BundleTrust
    private let timeLimit: Double?
    private let logger: Logger
    private let queue = DispatchQueue(label: "ztp.policy-reload")
    /// Guards every `var` below.
    private let lock = NSLock()
    private var waiting: [Request] = []
    private var running: CompileBudget?
    private var workerActive = false
    private var counters = Counters()
    private var installer: (@Sendable (DecisionTables) -> PolicyGeneration?)?

    /// `timeLimit` is in seconds for each compile; nil for none. `first` is the policy loaded at
    /// start, for status.
    init(source: PolicySource, trust: BundleTrust, first: LoadedPolicy, timeLimit: Double?, logger: Logger) {
        self.source = source
        self.trust = trust
        counters.bundleHash = first.bundleHash
        counters.signer = first.signer
        self.timeLimit = timeLimit
        self.logger = logger
    }

    /// Sets what puts compiled tables in force (once, before the first request).
    func setInstaller(_ install: @escaping @Sendable (DecisionTables) -> PolicyGeneration?) {
        lock.lock()
        installer = install
        lock.unlock()
    }

    var snapshot: Counters {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    /// Asks for a reload; `completion` gets whether the newest files at the time of the compile
    /// that serves this request were put in force.
    func request(reason: String, completion: (@Sendable (Bool) -> Void)? = nil) {
        lock.lock()
        waiting.append(Request(reason: reason, completion: completion))
        running?.cancel()
        let start = !workerActive
        workerActive = true
        lock.unlock()
        if start { queue.async { [self] in work() } }
    }

    private func work() {
        while true {
            lock.lock()
            guard !waiting.isEmpty else {
                workerActive = false
                lock.unlock()
                return
            }
            let batch = waiting
            waiting = []
            let budget = CompileBudget(seconds: timeLimit)
            running = budget
            let install = installer
            lock.unlock()

            var reasons: [String] = []
            for r in batch.map(\.reason) where !reasons.contains(r) { reasons.append(r) }
            let reason = reasons.joined(separator: ", ")
            let t0 = Date()
            let outcome: Result<LoadedPolicy, PolicySource.LoadFailure>
            do {
                outcome = .success(try source.loadPolicy(trust: trust, budget: budget))
            } catch {
                outcome = .failure(error)
            }
            let ms = Int(Date().timeIntervalSince(t0) * 1000)

            switch outcome {
            case .failure(let failure) where failure.diagnostics.contains(where: { $0.code == .compileCancelled }):
                lock.lock()
                running = nil
                counters.superseded += 1
                // Their completions wait for the compile of the newer files.
                waiting = batch + waiting
                lock.unlock()
                logger.notice("policy reload (\(reason)) superseded by a newer change after \(ms) ms; compiling again")
            case .success(let loaded):
                let tables = loaded.tables
                let g = install?(tables) ?? nil
                lock.lock()
                running = nil
                counters.reloads += 1
                counters.lastError = nil
                counters.bundleHash = loaded.bundleHash
                counters.signer = loaded.signer
                lock.unlock()
                logger.info(
                    "policy generation \(g.map { "\($0.number)" } ?? "?") loaded from \(source) (\(reason)) in \(ms) ms: \(tables.rules.count) rules, \(tables.identities.count) identities\(loaded.signer.map { ", signed by \($0)" } ?? "")")
                for r in batch { r.completion?(true) }
            case .failure(let failure):
                lock.lock()
                running = nil
                counters.failures += 1
                counters.lastError = failure.message
                counters.lastErrorAt = Date()
                lock.unlock()
                if failure.diagnostics.isEmpty {
                    // A bundle refusal (corrupt, unsigned, untrusted, bad signature) is one sentence.
                    logger.error("policy reload (\(reason)) refused, the policy in force stays: \(failure.message)")
                } else {
                    logger.error("policy reload (\(reason)) refused after \(ms) ms; the policy in force stays")
                    for d in failure.diagnostics {
                        logger.error("\(d.span.map { "\($0.start): " } ?? "")error: \(d.message) [\(d.code.rawValue)]")
                    }
                }
                for r in batch { r.completion?(false) }
            }
        }
    }
}
