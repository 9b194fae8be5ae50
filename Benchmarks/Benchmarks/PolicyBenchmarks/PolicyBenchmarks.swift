import Benchmark
import Foundation
import PolicyCompiler
import PolicyFixtures
import PolicyLang

// Benchmarks for the policy compiler and the decision tables, over generated policy sets of
// 100, 1,000 and 10,000 rules (see Sources/PolicyFixtures). Run from Benchmarks/:
//   swift package --scratch-path .build-bench --allow-writing-to-package-directory benchmark

let ruleCounts = [100, 1_000, 10_000]

/// The instant tests would be decided at: fixed, so that runs are comparable.
let fixedNow: Int64 = 1_795_424_400_000  // 2026-11-23T09:00:00Z

/// Compiled tables and precomputed requests for one set, built once per process (outside any
/// measurement) and shared by the benchmarks that need them.
final class DecideFixtures: @unchecked Sendable {
    static let shared = DecideFixtures()
    private let lock = NSLock()
    private var cache: [Int: Fixture] = [:]

    struct Fixture {
        var tables: DecisionTables
        var identities: [Int?]
        var addresses: [IPAddress]
        var ports: [UInt16]
        var protocols: [UInt8]
        var instants: [Int64]
    }

    /// Number of distinct requests; a power of two so that the index wraps with a mask.
    static let queryCount = 1 << 14

    func fixture(rules: Int) -> Fixture {
        lock.lock()
        defer { lock.unlock() }
        if let f = cache[rules] { return f }
        let (spec, dir) = FixtureStore.shared.set(rules: rules)
        let tables = compileOrDie(dir, lint: false)
        // Resolve identity names to table indexes, so the measured loop does only `decide`.
        let index = spec.identities.map { tables.identity(named: $0.name) }
        precondition(index.allSatisfy { $0 != nil }, "an identity of the generated set is missing from the tables")
        let queries = spec.queries(count: Self.queryCount)
        // Structure of arrays: the loop reads exactly what decide takes.
        let f = Fixture(
            tables: tables, identities: queries.map { index[$0.identity] },
            addresses: queries.map { $0.family == .v4 ? IPAddress(v4: UInt32($0.address)) : IPAddress(v6: $0.address) },
            ports: queries.map(\.port), protocols: queries.map(\.ipProtocol), instants: queries.map(\.milliseconds))
        cache[rules] = f
        return f
    }
}

func options(lint: Bool, tests: Bool) -> PolicyCompiler.Options {
    var o = PolicyCompiler.Options()
    o.lint = lint
    o.runTests = tests
    o.now = fixedNow
    return o
}

/// Compiles once outside the measurement and stops on any error, so that a broken generator
/// cannot produce flattering numbers for a compilation that bailed out early.
func compileOrDie(_ dir: String, lint: Bool) -> DecisionTables {
    let c = PolicyCompiler.compile(paths: [dir], options: options(lint: lint, tests: false))
    let errors = c.diagnostics.filter { $0.severity == .error }
    guard let tables = c.tables, errors.isEmpty else {
        fatalError("generated set in \(dir) does not compile: \(errors.prefix(5).map(\.message))")
    }
    return tables
}

let benchmarks: @Sendable () -> Void = {
    enforcementBenchmarks()
    reviewBenchmarks()
    handshakeBenchmarks()
    // decide: ns per decision. Each iteration makes 1,000 decisions (scalingFactor .kilo), each on a
    // different request, walking a ring of 16,384 precomputed requests; results are scaled per decision.
    for rules in ruleCounts {
        var cursor = 0
        Benchmark(
            "decide uncached (\(rules) rules)",
            configuration: .init(
                metrics: [.wallClock, .throughput, .mallocCountTotal],
                timeUnits: .nanoseconds, warmupIterations: 100, scalingFactor: .kilo, maxDuration: .seconds(5),
                maxIterations: 20_000)
        ) { benchmark in
            let f = DecideFixtures.shared.fixture(rules: rules)
            let mask = DecideFixtures.queryCount - 1
            var i = cursor
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let q = i & mask
                blackHole(
                    f.tables.decide(
                        identity: f.identities[q], address: f.addresses[q], port: f.ports[q], ipProtocol: f.protocols[q],
                        at: f.instants[q]))
                i &+= 1
            }
            benchmark.stopMeasurement()
            cursor = i
        } setup: {
            _ = DecideFixtures.shared.fixture(rules: rules)
        }
    }

    // compile: load + parse + resolve + lower to tables, without lint and without tests.
    // check: what `ztpc check` does: the same with lint on (and tests on; the generated sets have none).
    for (label, lint) in [("compile", false), ("check", true)] {
        for rules in ruleCounts {
            Benchmark(
                "\(label) (\(rules) rules)",
                configuration: .init(
                    metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
                    timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
                    maxDuration: .seconds(rules >= 10_000 ? 60 : 10), maxIterations: rules >= 10_000 ? 10 : 100)
            ) { benchmark in
                let dir = FixtureStore.shared.set(rules: rules).directory
                let o = options(lint: lint, tests: lint)
                benchmark.startMeasurement()
                let c = PolicyCompiler.compile(paths: [dir], options: o)
                benchmark.stopMeasurement()
                precondition(c.tables != nil)
                blackHole(c)
            } setup: {
                _ = compileOrDie(FixtureStore.shared.set(rules: rules).directory, lint: lint)
            }
        }
    }
}
