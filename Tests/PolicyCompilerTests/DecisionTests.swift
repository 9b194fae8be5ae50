import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

final class DecisionTests: XCTestCase {
    func testTheSpecificationExampleDecidesAsItsTestsSay() throws {
        let c = PolicyFixtures.compile(["engineering.yaml": PolicyFileParserExample.text], lint: false)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics)")
        XCTAssertEqual(c.decide("alice-laptop", "10.10.0.7:5432/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "10.10.0.7:5432/tcp").verdict, .deny)
        let d = c.decide("bob-phone", "10.20.1.5:22/tcp")
        XCTAssertEqual(d.verdict, .deny)
        XCTAssertEqual(c.ruleIDs(d), ["engineering/3"])
    }

    func testDefaultIsDenyAndNamesNoRule() {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: ["allow group:eng -> ci:443/tcp"])], lint: false)
        let d = c.decide("alice-laptop", "10.20.1.5:22/tcp")
        XCTAssertEqual(d.verdict, .deny)
        XCTAssertEqual(d.reason, .noRuleMatched)
        XCTAssertEqual(c.tables!.rules(of: d), [])
    }

    func testADenyBeatsEveryAllowWhateverTheOrder() {
        let rules = ["allow group:eng -> ci:*", "deny user:bob@example.com -> ci:22/tcp", "allow * -> ci:22/tcp"]
        for order in [rules, rules.reversed(), [rules[1], rules[0], rules[2]]] {
            let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: order)], lint: false)
            let d = c.decide("bob-phone", "10.20.1.5:22/tcp")
            XCTAssertEqual(d.verdict, .deny)
            XCTAssertEqual(d.reason, .denied)
            XCTAssertEqual(c.ruleIDs(d).count, 1)
            XCTAssertEqual(c.tables!.overridden(of: d).count, 2, "both allows matched and lost")
            XCTAssertEqual(c.decide("alice-laptop", "10.20.1.5:22/tcp").verdict, .allow)
        }
    }

    func testEveryMatchingAllowIsNamedWithTheShortestTTLAndWidestRate() {
        let c = PolicyFixtures.compile(
            ["p.yaml": PolicyFixtures.organisation(rules: [
                "allow group:eng -> ci:443/tcp rate 50/s ttl 2s",
                "name: wide\n    rule: allow alice-laptop -> ci:* rate 200/s ttl 30s",
            ])], lint: false)
        let d = c.decide("alice-laptop", "10.20.1.5:443/tcp")
        XCTAssertEqual(d.verdict, .allow)
        XCTAssertEqual(c.ruleIDs(d), ["org/1", "org/wide"])
        XCTAssertEqual(d.ttlMilliseconds, 2000)
        XCTAssertEqual(d.rate, Rate(count: 200, seconds: 1))
        XCTAssertEqual(c.tables!.rules[Int(d.rateRule)].id, "org/wide")
        XCTAssertEqual(d.validUntilMilliseconds, 1_795_424_400_000 + 2000)
    }

    func testDefaultsGiveRulesTheirRateAndTTL() {
        let text = "policy: p\ndefaults: { cache_ttl: 7s, rate_limit: 30/m }\nidentities:\n  a: { key: \"\(PolicyFixtures.keys[0])\", tags: [x] }\nrules:\n  - allow a -> 10.0.0.1:22/tcp\n"
        let c = PolicyFixtures.compile(["p.yaml": text], lint: false)
        let d = c.decide("a", "10.0.0.1:22/tcp")
        XCTAssertEqual(d.ttlMilliseconds, 7000)
        XCTAssertEqual(d.rate, Rate(count: 30, seconds: 60))
        XCTAssertEqual(c.tables!.identities[0].evaluationRate, Rate(count: 30, seconds: 60))
        XCTAssertEqual(c.tables!.defaultTTLMilliseconds, 7000)
    }

    func testConditionsOnTagsUsersAndGroups() {
        let c = PolicyFixtures.compile(
            ["p.yaml": PolicyFixtures.organisation(rules: [
                "allow * -> prod-db:5432/tcp if tag:managed and not group:sre",
                "allow * -> ci:22/tcp if user:bob@example.com or (group:oncall and tag:managed)",
            ])], lint: false)
        XCTAssertEqual(c.decide("alice-laptop", "10.10.0.1:5432/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "10.10.0.1:5432/tcp").verdict, .deny)
        XCTAssertEqual(c.decide("carol-laptop", "10.10.0.1:5432/tcp").verdict, .deny)
        XCTAssertEqual(c.decide("bob-phone", "10.20.1.5:22/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("erin-laptop", "10.20.1.5:22/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("alice-laptop", "10.20.1.5:22/tcp").verdict, .deny)
    }

    func testTargetsMatchAddressesPortsAndProtocols() {
        let c = PolicyFixtures.compile(
            ["p.yaml": PolicyFixtures.organisation(rules: [
                "allow group:eng -> web:80-90/tcp [fd00:99::1]:53/udp 10.0.0.0/8:443",
                "allow group:eng -> 10.1.0.0/16:*",
                "allow group:eng -> 10.2.0.1:*/icmp",
            ])], lint: false)
        XCTAssertEqual(c.decide("bob-phone", "10.30.4.4:85/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "10.30.4.4:91/tcp").verdict, .deny)
        XCTAssertEqual(c.decide("bob-phone", "10.30.4.4:85/udp").verdict, .deny)
        XCTAssertEqual(c.decide("bob-phone", "[fd00:30::abcd]:80/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "[fd00:31::abcd]:80/tcp").verdict, .deny)
        XCTAssertEqual(c.decide("bob-phone", "[fd00:99::1]:53/udp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "[fd00:99::2]:53/udp").verdict, .deny)
        XCTAssertEqual(c.decide("bob-phone", "10.200.0.1:443/udp").verdict, .allow, "no protocol means any")
        XCTAssertEqual(c.decide("bob-phone", "10.200.0.1/icmp").verdict, .deny, "ICMP has no port 443")
        XCTAssertEqual(c.decide("bob-phone", "10.1.2.3/icmp").verdict, .allow, "ports * with no protocol include ICMP")
        XCTAssertEqual(c.decide("bob-phone", "10.2.0.1/icmp").verdict, .allow)
        XCTAssertEqual(c.decide("bob-phone", "10.2.0.1:80/tcp").verdict, .deny)
        let other = c.tables!.decide(
            identity: c.tables!.identity(named: "bob-phone"), address: IPAddress("10.1.2.3")!, port: 0, ipProtocol: 47, at: 0)
        XCTAssertEqual(other.verdict, .allow, "GRE reaches a protocol-less target with ports *")
    }

    func testAnUnknownPeerGetsNothing() throws {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: ["allow * -> *:*"])], lint: false)
        let stranger = try PublicKey(rawBytes: [UInt8](repeating: 7, count: 32))
        let d = c.tables!.decide(key: stranger, address: IPAddress("10.0.0.1")!, port: 1, ipProtocol: 6, at: 0)
        XCTAssertEqual(d.verdict, .deny)
        XCTAssertEqual(d.reason, .unknownIdentity)
        let known = try PublicKey(base64: PolicyFixtures.keys[0])
        XCTAssertEqual(c.tables!.decide(key: known, address: IPAddress("10.0.0.1")!, port: 1, ipProtocol: 6, at: 0).verdict, .allow)
    }

    func testTimeWindowsFollowTheZoneAndBoundTheCacheLifetime() {
        let c = PolicyFixtures.compile(
            ["p.yaml": PolicyFixtures.organisation(rules: [
                "allow group:sre -> prod-db:* if time mon-fri 08:00-18:00 Europe/Berlin"
            ])], lint: false)
        // Monday 2026-11-23: Berlin is UTC+1, so the window is 07:00-17:00 UTC.
        let beforeOpening = Int64(1_795_417_198), opening = Int64(1_795_417_200), beforeClosing = Int64(1_795_453_198)
        XCTAssertEqual(c.decide("carol-laptop", "10.10.0.1:22/tcp", at: beforeOpening).verdict, .deny)
        XCTAssertEqual(c.decide("carol-laptop", "10.10.0.1:22/tcp", at: beforeOpening).validUntilMilliseconds, opening * 1000,
                       "a deny cached before the window opens expires when it opens")
        let open = c.decide("carol-laptop", "10.10.0.1:22/tcp", at: beforeClosing)
        XCTAssertEqual(open.verdict, .allow)
        XCTAssertEqual(open.validUntilMilliseconds, (beforeClosing + 2) * 1000, "never cached past the closing time, though the ttl is 5 s")
        // Sunday 2026-11-29 10:00 UTC.
        XCTAssertEqual(c.decide("carol-laptop", "10.10.0.1:22/tcp", at: 1_795_946_400).verdict, .deny)
        // Summer time: Monday 2026-06-01 06:30 UTC is 08:30 in Berlin (UTC+2).
        XCTAssertEqual(c.decide("carol-laptop", "10.10.0.1:22/tcp", at: 1_780_295_400).verdict, .allow)
    }

    func testOvernightWindowsRunIntoTheNextDay() {
        let c = PolicyFixtures.compile(
            ["p.yaml": PolicyFixtures.organisation(rules: ["allow group:sre -> ci:22/tcp if time fri 22:00-06:00 UTC"])], lint: false)
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp", at: 1_795_816_800 + 3600).verdict, .allow)  // Fri 23:00
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp", at: 1_795_816_800 + 7 * 3600).verdict, .allow)  // Sat 05:00
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp", at: 1_795_816_800 + 9 * 3600).verdict, .deny)  // Sat 07:00
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp", at: 1_795_816_800 - 3600).verdict, .deny)  // Fri 21:00
    }

    func testCellsWithMoreTimeConditionsThanPrecomputedDecideAsTheRulesSay() throws {
        // Eight windows on one host (more than the index precomputes combinations for) and two on
        // `*`, so that slow cells meet timed and untimed ones of the class's `*` targets.
        var rules = (0..<8).map { h in "allow group:sre -> prod-db:22/tcp if time mon-sun \(String(format: "%02d", 2 * h)):00-\(String(format: "%02d", 2 * h + 3)):00 UTC" }
        rules += ["deny group:sre -> *:22/tcp if time sat 10:00-11:00 UTC", "allow group:sre -> *:22/tcp if time mon-fri 09:00-10:00 UTC", "allow group:sre -> *:443/tcp"]
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: rules)], lint: false)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        let set = try XCTUnwrap(c.resolved)
        let carol = try XCTUnwrap(set.identities.first { $0.name == "carol-laptop" })
        for hour in stride(from: Int64(0), to: 7 * 24, by: 1) {
            let at = 1_795_424_400 - 9 * 3600 + hour * 3600 + 1_800  // from Monday 00:30 UTC, hourly
            for (address, port) in [("10.10.0.1", UInt16(22)), ("10.10.0.1", 443), ("10.20.1.5", 22)] {
                let request = Request(address: IPAddress(address)!, port: port, proto: .tcp)
                let d = c.tables!.decide(identityNamed: "carol-laptop", request, at: at * 1000)
                let traces = Explainer.trace(set, identity: carol, request: request, atSeconds: at).filter(\.matches)
                let denies = traces.filter { $0.rule.action == .deny }.map { Int32($0.rule.index) }
                let allows = traces.filter { $0.rule.action == .allow }.map { Int32($0.rule.index) }
                XCTAssertEqual(d.verdict, denies.isEmpty && !allows.isEmpty ? .allow : .deny, "\(address):\(port) at \(at)")
                XCTAssertEqual(c.tables!.rules(of: d), (denies.isEmpty ? allows : denies).sorted(), "\(address):\(port) at \(at)")
                XCTAssertLessThanOrEqual(d.validUntilMilliseconds, (at + 3600) * 1000, "windows flip on the hour, and bound the decision")
            }
        }
    }

    func testIdentitiesWithTheSameViewShareAClass() {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: ["allow tag:managed -> ci:22/tcp"])], lint: false)
        let t = c.tables!
        let cls = t.identities.map(\.classIndex)
        XCTAssertEqual(t.classCount, 2)
        XCTAssertEqual(cls[0], cls[2])
        XCTAssertNotEqual(cls[0], cls[1])
    }

    func testTablesAgreeWithRuleByRuleInterpretationOnRandomPolicies() throws {
        var rng = SplitMix(seed: 42)
        let subjects = ["*", "group:eng", "group:sre", "group:oncall", "tag:managed", "user:bob@example.com", "alice-laptop"]
        let hosts = ["prod-db", "ci", "web", "10.0.0.0/8", "10.10.0.128/25", "[fd00:30::/80]", "*", "10.20.1.0/30"]
        let ports = ["*", "22", "80-90", "443,8443", "5432", "1-1024"]
        let protos = ["", "/tcp", "/udp"]
        let conditions = ["", " if tag:managed", " if not group:eng", " if time mon-fri 08:00-18:00 Europe/Berlin", " if tag:eu or time sat,sun 00:00-12:00 UTC"]
        let limits = ["", "", " rate 50/s", " rate 200/s ttl 2s", " ttl 30s", " rate 3000/m"]
        var pairs = 0
        for round in 0..<12 {
            var rules: [String] = []
            for _ in 0..<(8 + round * 3) {
                let action = rng.next() % 4 == 0 ? "deny" : "allow"
                let port = ports.randomElement(using: &rng)!
                let proto = port == "*" ? ["", "/tcp", "/udp", "/icmp"].randomElement(using: &rng)! : protos.randomElement(using: &rng)!
                rules.append(
                    "\(action) \(subjects.randomElement(using: &rng)!) -> \(hosts.randomElement(using: &rng)!):\(port)\(proto)\(conditions.randomElement(using: &rng)!)\(limits.randomElement(using: &rng)!)")
            }
            let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: rules)], lint: false)
            XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
            let set = try XCTUnwrap(c.resolved)
            let t = try XCTUnwrap(c.tables)
            let destinations = ["10.10.0.7", "10.10.0.200", "10.20.1.5", "10.20.1.6", "10.30.1.1", "10.99.0.1", "192.0.2.1", "fd00:30::1", "fd00:30:0:0:1::1", "fd00:31::1"]
            for identity in set.identities {
                for _ in 0..<40 {
                    let address = IPAddress(destinations.randomElement(using: &rng)!)!
                    let proto = [TransportProtocol.tcp, .udp, .icmp].randomElement(using: &rng)!
                    let port: UInt16 = proto == .icmp ? 0 : [22, 80, 85, 91, 443, 5432, 8443, 2000].randomElement(using: &rng)!
                    let at = 1_795_000_000 + Int64(rng.next() % 2_000_000)
                    let request = Request(address: address, port: port, proto: proto)
                    let d = t.decide(identityNamed: identity.name, request, at: at * 1000)
                    if !d.lists.moreRules.isEmpty || !d.lists.moreOverridden.isEmpty { pairs += 1 }
                    let traces = Explainer.trace(set, identity: identity, request: request, atSeconds: at).filter(\.matches)
                    let denies = traces.filter { $0.rule.action == .deny }.map { Int32($0.rule.index) }.sorted()
                    let allows = traces.filter { $0.rule.action == .allow }.map { Int32($0.rule.index) }.sorted()
                    let expected: (Verdict, [Int32]) = !denies.isEmpty ? (.deny, denies) : (!allows.isEmpty ? (.allow, allows) : (.deny, []))
                    let what = "\(identity.name) -> \(request) at \(at) with \(rules)"
                    XCTAssertEqual(d.verdict, expected.0, what)
                    XCTAssertEqual(t.rules(of: d), expected.1, what)
                    XCTAssertEqual(t.overridden(of: d), denies.isEmpty ? [] : allows, what)
                    XCTAssertGreaterThan(d.validUntilMilliseconds, at * 1000)
                    // The lifetime is the winning side's shortest; a flow is charged to the most
                    // permissive allow (then the smallest id), whichever cells the rules came from.
                    if !expected.1.isEmpty {
                        XCTAssertEqual(d.ttlMilliseconds, expected.1.map { t.rules[Int($0)].ttlMilliseconds }.min(), what)
                    }
                    if expected.0 == .allow {
                        let widest = allows.max { a, b in
                            let ra = t.rules[Int(a)].rate.perSecond, rb = t.rules[Int(b)].rate.perSecond
                            return ra != rb ? ra < rb : t.rules[Int(a)].id > t.rules[Int(b)].id
                        }!
                        XCTAssertEqual(d.rateRule, widest, what)
                        XCTAssertEqual(d.rate, t.rules[Int(widest)].rate, what)
                    } else {
                        XCTAssertEqual(d.rateRule, -1, what)
                        XCTAssertNil(d.rate, what)
                    }
                }
            }
        }
        XCTAssertGreaterThan(pairs, 20, "requests that meet both a `*` cell and a specific one (40 with this seed), decided without merging")
    }
}

/// A small deterministic generator, so that random tests replay the same cases.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The specification's example with real keys (Tests/Fixtures/specification-example.yaml).
enum PolicyFileParserExample {
    static let text = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/specification-example.yaml"), encoding: .utf8)
}
