import Foundation

/// Why a compile stopped before it finished.
public enum CompileInterrupted: Error, Sendable, Equatable {
    /// The compile ran past its time limit.
    case timedOut(seconds: Double)
    /// Someone cancelled it (a reload superseded by a newer change).
    case cancelled
    /// A stage found a limit passed that only compiling can measure (the size of the tables).
    case limitExceeded(Diagnostic)

    /// The diagnostic that reports the interruption.
    package var diagnostic: Diagnostic {
        switch self {
        case .timedOut(let seconds):
            .error(
                .tooComplex, "policy too complex: compiling took longer than \(secondsText(seconds))", at: nil,
                help: "look for groups that include each other many times over, or very many rules, hosts or identities; ztpd's limit is reload_timeout_seconds")
        case .cancelled:
            .error(.compileCancelled, "the compile was cancelled: a newer change superseded it", at: nil)
        case .limitExceeded(let diagnostic): diagnostic
        }
    }
}

/// A cooperative deadline and cancellation token for one compile.
///
/// Each stage calls ``check()`` in its loops (per file, per entry, per rule, per identity), so
/// an input too large or too tangled for the time allowed stops with a diagnostic instead of
/// running on, and a reload that a newer change makes moot can be abandoned. A check costs a
/// lock and a clock read; it belongs in loops over entries, not in inner loops over bits.
public final class CompileBudget: @unchecked Sendable {
    /// The time allowed in seconds, or nil for no limit.
    package let limit: Double?
    private let deadline: ContinuousClock.Instant?
    private let lock = NSLock()
    private var cancelled = false

    /// A budget that starts now and allows `seconds` (nil: no time limit, only cancellation).
    public init(seconds: Double?) {
        limit = seconds
        deadline = seconds.map { ContinuousClock.now.advanced(by: .milliseconds(Int64(($0 * 1000).rounded()))) }
    }

    /// Asks the compile to stop at its next check. Safe from any thread.
    package func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// Throws when the compile has been cancelled or has run out of time.
    package func check() throws(CompileInterrupted) {
        if isCancelled { throw .cancelled }
        if let deadline, let limit, ContinuousClock.now >= deadline { throw .timedOut(seconds: limit) }
    }
}

/// `30 s`, `1.5 s`, `0.25 s`: for messages.
private func secondsText(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
