import Enforcer
import Foundation
import Logging
import PolicyCompiler
import PolicyLang

/// Loads the next policy off the data path, one load at a time, the newest request winning:
/// the one install path for local reloads (the configured directory or bundle again) and for
/// bundles handed in from a remote source.
///
/// A request that arrives while a compile runs cancels it through its ``CompileBudget`` (the
/// files it is reading are already out of date) and the worker starts over with the newest
/// request; requests that arrive together are served by one load of the newest, and requests
/// for anything else in that batch are answered ``Outcome/superseded``. Every compile has a
/// time limit, so no input can wedge the worker: a compile past it fails with
/// `policy-too-complex`. A refused load (diagnostics, a corrupt bundle, a signature the edge
/// does not trust) leaves the policy in force, is logged, and is counted as a reload failure
/// with its message as ``Counters/lastError``. A remote bundle that is put in force is written
/// to the ``BundleCache``.
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

    /// What a request asks to load.
    enum Load: Sendable {
        /// The configured source again (files changed, SIGHUP).
        case source
        /// A bundle from a remote source: its bytes, their content hash, and where they came from.
        case bundle([UInt8], hash: String, origin: String)
    }

    /// What became of a request.
    enum Outcome: Sendable {
        /// Put in force as this generation.
        case installed(PolicyGeneration)
        /// The bundle is the one in force already (same content hash): nothing was done.
        case unchanged(PolicyGeneration)
        /// Refused with this message; the policy in force stays.
        case refused(String)
        /// A newer request for something else came first; that one was loaded instead.
        case superseded
    }

    private struct Request {
        var reason: String
        var load: Load
        var completion: (@Sendable (Outcome) -> Void)?

        var isSource: Bool {
            if case .source = load { true } else { false }
        }
    }

    private let source: PolicySource
    private let trust: BundleTrust
    private let cache: BundleCache?
    private let timeLimit: Double?
    private let logger: Logger
    private let queue = DispatchQueue(label: "ztp.policy-reload")
    /// Guards every `var` below.
    private let lock = NSLock()
    private var waiting: [Request] = []
    private var running: CompileBudget?
    private var workerActive = false
    private var counters = Counters()
    private var installer: (@Sendable (DecisionTables, String) -> PolicyGeneration?)?
    private var current: (@Sendable () -> PolicyGeneration?)?

    /// `timeLimit` is in seconds for each compile; nil for none. `first` is the policy loaded at
    /// start, for status.
    init(source: PolicySource, trust: BundleTrust, cache: BundleCache?, first: LoadedPolicy, timeLimit: Double?, logger: Logger) {
        self.source = source
        self.trust = trust
        self.cache = cache
        counters.bundleHash = first.bundleHash
        counters.signer = first.signer
        self.timeLimit = timeLimit
        self.logger = logger
    }

    /// Sets what puts tables in force (given with their origin) and what reads the generation
    /// in force (once, before the first request).
    func setInstaller(
        _ install: @escaping @Sendable (DecisionTables, String) -> PolicyGeneration?,
        current: @escaping @Sendable () -> PolicyGeneration?
    ) {
        lock.lock()
        installer = install
        self.current = current
        lock.unlock()
    }

    var snapshot: Counters {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    /// Asks for `load`; `completion` gets what became of it. For ``Load/source``, the files
    /// read are the newest at the time of the compile that serves the request.
    func request(reason: String, load: Load = .source, completion: (@Sendable (Outcome) -> Void)? = nil) {
        lock.lock()
        waiting.append(Request(reason: reason, load: load, completion: completion))
        running?.cancel()
        let start = !workerActive
        workerActive = true
        lock.unlock()
        if start { queue.async { [self] in work() } }
    }

    private func work() {
        while true {
            lock.lock()
            guard let newest = waiting.last else {
                workerActive = false
                lock.unlock()
                return
            }
            // The newest request decides what is loaded: all the source requests when it is
            // one (one compile serves them), else that one bundle.
            let batch = newest.isSource ? waiting.filter(\.isSource) : [newest]
            let passedOver = newest.isSource ? waiting.filter { !$0.isSource } : waiting.dropLast()
            waiting = []
            let budget = CompileBudget(seconds: timeLimit)
            running = budget
            let install = installer, current = current
            let inForceHash = counters.bundleHash
            lock.unlock()
            for r in passedOver { r.completion?(.superseded) }

            var reasons: [String] = []
            for r in batch.map(\.reason) where !reasons.contains(r) { reasons.append(r) }
            let reason = reasons.joined(separator: ", ")
            let t0 = Date()
            let origin: String
            let outcome: Result<LoadedPolicy, PolicySource.LoadFailure>
            switch newest.load {
            case .source:
                origin = source.description
                do {
                    outcome = .success(try source.loadPolicy(trust: trust, budget: budget))
                } catch {
                    outcome = .failure(error)
                }
            case .bundle(let bytes, let hash, let from):
                origin = from
                if hash == inForceHash, let g = current?() ?? nil {
                    lock.lock()
                    running = nil
                    lock.unlock()
                    logger.debug("bundle sha256:\(hash) from \(from) is already in force (generation \(g.number))")
                    newest.completion?(.unchanged(g))
                    continue
                }
                do {
                    outcome = .success(try PolicySource.open(bundle: bytes, origin: from, trust: trust, contentHash: hash))
                } catch {
                    outcome = .failure(error)
                }
            }
            let ms = Int(Date().timeIntervalSince(t0) * 1000)

            switch outcome {
            case .failure(let failure) where failure.diagnostics.contains(where: { $0.code == .compileCancelled }):
                lock.lock()
                running = nil
                counters.superseded += 1
                // Their completions wait for the load of the newer request.
                waiting = batch + waiting
                lock.unlock()
                logger.notice("policy reload (\(reason)) superseded by a newer change after \(ms) ms; loading again")
            case .success(let loaded):
                let tables = loaded.tables
                // Nil only once the edge itself has gone: there is nothing left to enforce with.
                guard let g = install?(tables, origin) ?? nil else {
                    lock.lock()
                    running = nil
                    lock.unlock()
                    for r in batch { r.completion?(.refused("the edge has stopped")) }
                    continue
                }
                lock.lock()
                running = nil
                counters.reloads += 1
                counters.lastError = nil
                counters.bundleHash = loaded.bundleHash
                counters.signer = loaded.signer
                lock.unlock()
                logger.info(
                    "policy generation \(g.number) loaded from \(origin) (\(reason)) in \(ms) ms: \(tables.rules.count) rules, \(tables.identities.count) identities\(loaded.bundleHash.map { ", sha256:\($0)" } ?? "")\(loaded.signer.map { ", signed by \($0)" } ?? "")")
                if case .bundle(let bytes, _, _) = newest.load, let cache {
                    do {
                        try cache.store(bytes)
                    } catch {
                        // The policy is in force; only a restart without the remote source would miss it.
                        logger.warning("cannot keep the bundle in \(cache.path) (a restart while the source is unreachable would use an older one): \(error)")
                    }
                }
                for r in batch { r.completion?(.installed(g)) }
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
                for r in batch { r.completion?(.refused(failure.message)) }
            }
        }
    }
}
