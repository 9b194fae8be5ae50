import Benchmark
import Foundation
import PolicyCompiler
import PolicyFixtures
import PolicyLang

// Benchmarks for reviewing a change: `ztpc diff` (PolicyDiff.compare) between a generated set and
// a copy with 1% of its rules' verdicts flipped, and between the set and itself; `ztpc who-can`
// (Reachability.whoCan) for one request. Tables are compiled outside the measurement, as the
// commands compile (or load) both sides before comparing.

/// The generated set, a copy with every 100th rule's verdict flipped, and a destination.
final class ReviewFixtures: @unchecked Sendable {
    static let shared = ReviewFixtures()
    private let lock = NSLock()
    private var cache: [Int: Fixture] = [:]

    struct Fixture {
        var old: Compilation
        var new: Compilation
        var destination: Reachability.Destination
    }

    func fixture(rules: Int) -> Fixture {
        lock.lock()
        defer { lock.unlock() }
        if let f = cache[rules] { return f }
        let (spec, dir) = FixtureStore.shared.set(rules: rules)
        var changed = spec
        for i in stride(from: 0, to: changed.rules.count, by: 100) { changed.rules[i].allow.toggle() }
        let changedDir = NSTemporaryDirectory() + "ztp-benchmarks/rules-\(rules)-changed"
        do { try changed.write(to: changedDir) } catch { fatalError("cannot write \(changedDir): \(error)") }
        func compile(_ d: String) -> Compilation {
            let c = PolicyCompiler.compile(paths: [d], options: options(lint: false, tests: false))
            guard c.tables != nil else { fatalError("\(d) does not compile: \(c.diagnostics.prefix(3).map(\.message))") }
            return c
        }
        // A request the policy names: the first query whose address is inside a host of the set.
        let q = spec.queries(count: 64).first { $0.family == .v4 && $0.ipProtocol == 6 } ?? spec.queries(count: 1)[0]
        let span = AddressSpan(family: q.family == .v4 ? .v4 : .v6, lower: q.address, upper: q.address)
        let f = Fixture(
            old: compile(dir), new: compile(changedDir),
            destination: Reachability.Destination(addresses: [span], ports: PortRange(q.port, q.port), protocols: [.tcp]))
        cache[rules] = f
        return f
    }
}

func reviewBenchmarks() {
    for rules in ruleCounts {
        for (label, changed) in [("diff 1% changed", true), ("diff unchanged", false)] {
            Benchmark(
                "\(label) (\(rules) rules)",
                configuration: .init(
                    metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
                    timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
                    maxDuration: .seconds(rules >= 10_000 ? 30 : 10), maxIterations: rules >= 10_000 ? 10 : 100)
            ) { benchmark in
                let f = ReviewFixtures.shared.fixture(rules: rules)
                let new = changed ? f.new : f.old
                benchmark.startMeasurement()
                let d = PolicyDiff.compare(old: f.old.tables!, new: new.tables!, oldSet: f.old.resolved, newSet: new.resolved)
                benchmark.stopMeasurement()
                precondition(changed || d.isEmpty, "a set compared with itself changes nothing")
                blackHole(d)
            } setup: {
                _ = ReviewFixtures.shared.fixture(rules: rules)
            }
        }
        Benchmark(
            "who-can one request (\(rules) rules)",
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 3, scalingFactor: .one,
                maxDuration: .seconds(5), maxIterations: 1_000)
        ) { benchmark in
            let f = ReviewFixtures.shared.fixture(rules: rules)
            benchmark.startMeasurement()
            let regions = Reachability.whoCan(f.old.tables!, set: f.old.resolved, reach: f.destination)
            benchmark.stopMeasurement()
            blackHole(regions)
        } setup: {
            _ = ReviewFixtures.shared.fixture(rules: rules)
        }
    }
}
