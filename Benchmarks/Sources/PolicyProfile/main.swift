import Foundation
import PolicyCompiler
import PolicyFixtures
import PolicyLang

// A small driver for profiling (perf, valgrind) and for checking the generated sets:
//   PolicyProfile phases RULES      time each stage of compile and check once
//   PolicyProfile verify RULES [N]  compare decide with a naive evaluator on N requests
//   PolicyProfile compile RULES [lint]  one compilation, for perf record / callgrind
//   PolicyProfile write RULES       write the set and print its directory
//   PolicyProfile decide RULES [ROUNDS]   the decide benchmark's loop (wall and thread CPU time)
//   PolicyProfile enforce RULES [ROUNDS]  the enforce hit benchmark's loop

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }
func profileNow() -> Double { now() }
/// This thread's CPU time in ms: on the shared VM wall time counts the other jobs' time slices too.
func cpu() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

func timed<T>(_ label: String, _ f: () -> T) -> T {
    let t0 = now()
    let r = f()
    print("  " + label.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%10.1f ms", now() - t0))
    return r
}

let args = CommandLine.arguments
guard args.count >= 3, let rules = Int(args[2]) else {
    print("usage: PolicyProfile phases|verify|compile|write RULES [arg]")
    exit(2)
}
// `PolicyProfile phases RULES noany`: the same kind of set without `*` destinations (an experiment).
let noAny = args.last == "noany"
let (spec, dir): (PolicySetSpec, String) = {
    guard noAny else { return FixtureStore.shared.set(rules: rules) }
    let s = PolicySetSpec(rules: rules, anyHostPercent: 0)
    let d = NSTemporaryDirectory() + "ztp-benchmarks/rules-\(rules)-noany"
    try! s.write(to: d)
    return (s, d)
}()
var options = PolicyCompiler.Options()
options.now = 1_795_424_400_000
options.runTests = false

switch args[1] {
case "write":
    print(dir)
case "phases":
    print("\(rules) rules, \(spec.hosts.count) hosts, \(spec.identities.count) identities in \(dir)")
    let (parsed, pd) = timed("load + parse (YAML, rule DSL)") { PolicySetLoader.load(paths: [dir]) }
    let (resolved, rd) = timed("resolve") { Resolver.resolve(parsed) }
    let lint = timed("lint") { Linter.lint(resolved) }
    options.lint = false
    let c = timed("compile(parsed), lint off") { PolicyCompiler.compile(parsed, options: options) }
    let total = timed("compile(paths), lint off") { PolicyCompiler.compile(paths: [dir], options: options) }
    options.lint = true
    _ = timed("compile(paths), lint on (check)") { PolicyCompiler.compile(paths: [dir], options: options) }
    let t = total.tables!
    print("  diagnostics: parse \(pd.count), resolve \(rd.count), lint \(lint.count) warnings; errors: \(c.hasErrors)")
    print("  tables: \(t.classCount) classes, \(t.v4Starts.count) v4 + \(t.v6Starts.count) v6 segments, \(t.portTables.count) port tables, \(t.cells.count) cells, \(t.expressions.count) time expressions")
    let byCode = Dictionary(grouping: lint, by: { "\($0.code)" }).mapValues(\.count)
    print("  lint by code: \(byCode.sorted { $0.key < $1.key })")
case "compile":
    options.lint = args.contains("lint")
    let c = PolicyCompiler.compile(paths: [dir], options: options)
    print(c.tables != nil ? "ok" : "errors")
case "verify":
    let n = args.count > 3 ? Int(args[3]) ?? 5000 : 5000
    options.lint = false
    let c = PolicyCompiler.compile(paths: [dir], options: options)
    guard let tables = c.tables else {
        print(c.diagnostics.filter { $0.severity == .error }.prefix(10).map(\.message))
        exit(1)
    }
    let reference = ReferenceEvaluator(spec)
    var mismatches = 0, allows = 0, timed = 0
    for q in spec.queries(count: n) {
        let addr = q.family == .v4 ? IPAddress(v4: UInt32(q.address)) : IPAddress(v6: q.address)
        let d = tables.decide(
            identity: tables.identity(named: spec.identities[q.identity].name), address: addr, port: q.port,
            ipProtocol: q.ipProtocol, at: q.milliseconds)
        let r = reference.decide(q)
        if r.allow { allows += 1 }
        if d.validUntilMilliseconds < q.milliseconds + d.ttlMilliseconds { timed += 1 }
        let got = (d.verdict == .allow, tables.rules(of: d).map(Int.init))
        // Beyond the verdict and its rules: the allows a deny overrode, the lifetime (the winning
        // side's shortest) and the rule a new flow is charged to (the most permissive allow, then
        // the smallest id), from the rules' own limits, whichever cells the rules came from.
        let overridden = r.allow ? [] : r.allows
        let ttl = r.rules.map { tables.rules[$0].ttlMilliseconds }.min() ?? d.ttlMilliseconds
        func perSecond(_ i: Int) -> Double { Double(tables.rules[i].rate.count) / Double(tables.rules[i].rate.seconds) }
        let widest = r.allow ? r.rules.max { a, b in perSecond(a) != perSecond(b) ? perSecond(a) < perSecond(b) : tables.rules[a].id > tables.rules[b].id }! : -1
        if got.0 != r.allow || got.1 != r.rules || tables.overridden(of: d).map(Int.init) != overridden || d.ttlMilliseconds != ttl
            || d.rate != (widest < 0 ? nil : tables.rules[widest].rate)
        {
            mismatches += 1
            if mismatches <= 10 {
                print("MISMATCH \(spec.identities[q.identity].name) -> \(addr) port \(q.port) proto \(q.ipProtocol) at \(q.milliseconds): decide \(d.verdict) \(d.reason) \(tables.rules(of: d)) ttl \(d.ttlMilliseconds) rate \(String(describing: d.rate)), reference allow=\(r.allow) \(r.rules)")
            }
        }
    }
    print("verify \(rules) rules: \(n) requests, \(allows) allowed by reference, \(timed) time-bounded, \(mismatches) mismatches")
case "decide":
    options.lint = false
    let tables = PolicyCompiler.compile(paths: [dir], options: options).tables!
    let queries = spec.queries(count: 1 << 14)
    let reference = ReferenceEvaluator(spec)
    let touching = queries.prefix(4000).filter { reference.touchesTimeRule($0) }.count
    let ids = queries.map { tables.identity(named: spec.identities[$0.identity].name) }
    let addrs = queries.map { $0.family == .v4 ? IPAddress(v4: UInt32($0.address)) : IPAddress(v6: $0.address) }
    let rounds = args.count > 3 ? Int(args[3]) ?? 200 : 200
    var allowed = 0
    let t0 = now(), c0 = cpu()
    for _ in 0..<rounds {
        for i in 0..<queries.count {
            let q = queries[i]
            if tables.decide(identity: ids[i], address: addrs[i], port: q.port, ipProtocol: q.ipProtocol, at: q.milliseconds).verdict == .allow { allowed += 1 }
        }
    }
    let ns = (now() - t0) * 1e6 / Double(rounds * queries.count)
    let cpuNs = (cpu() - c0) * 1e6 / Double(rounds * queries.count)
    print("decide \(rules) rules: \(String(format: "%.1f", ns)) ns/decision (\(String(format: "%.1f", cpuNs)) ns of thread CPU time); \(touching) of 4000 requests touch a rule with a time window; allowed \(allowed)")
case "enforce":
    options.lint = false
    let tables = PolicyCompiler.compile(paths: [dir], options: options).tables!
    enforceProfile(tables, spec, rounds: args.count > 3 ? Int(args[3]) ?? 2000 : 2000)
default:
    print("unknown mode")
    exit(2)
}
