import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

final class PolicyDiffTests: XCTestCase {
    private func tables(_ text: String) throws -> (DecisionTables, ResolvedPolicySet) {
        let c = PolicyFixtures.compile(["p.yaml": text], lint: false, tests: false)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        return (try XCTUnwrap(c.tables), try XCTUnwrap(c.resolved))
    }

    private func diff(_ old: [String], _ new: [String]) throws -> PolicyDiff {
        let (a, sa) = try tables(PolicyFixtures.organisation(rules: old))
        let (b, sb) = try tables(PolicyFixtures.organisation(rules: new))
        return PolicyDiff.compare(old: a, new: b, oldSet: sa, newSet: sb)
    }

    func testTheSamePoliciesInAnotherOrderChangeNoDecision() throws {
        let rules = [
            "allow group:eng -> ci:443,8443/tcp web:80-90/tcp", "deny user:bob@example.com -> ci:22/tcp",
            "allow group:oncall -> ci:22/tcp if time mon-fri 08:00-18:00 Europe/Berlin", "allow * -> *:*/icmp",
        ]
        XCTAssertTrue(try diff(rules, rules.reversed()).isEmpty)
        XCTAssertTrue(try diff(rules, rules).isEmpty)
    }

    func testAnAddedAllowIsOneGrantNamingItsRuleAndTheGroup() throws {
        let d = try diff(["allow group:eng -> ci:443/tcp"], ["allow group:eng -> ci:443/tcp", "allow group:sre -> prod-db:5432/tcp"])
        XCTAssertEqual(d.regions.count, 1)
        let r = try XCTUnwrap(d.regions.first)
        XCTAssertEqual(r.identities, ["carol-laptop"])
        XCTAssertEqual(r.label, nil, "one identity needs no label")
        XCTAssertEqual(r.addresses.prefixes.map(\.description), ["10.10.0.0/24"])
        XCTAssertEqual(r.proto, .tcp)
        XCTAssertEqual(r.ports, PortRange(5432, 5432))
        XCTAssertTrue(r.time.isAlways)
        XCTAssertEqual(r.before, RegionVerdict(verdict: .deny, reason: .noRuleMatched, rules: []))
        XCTAssertEqual(r.after, RegionVerdict(verdict: .allow, reason: .allowed, rules: ["org/2"]))
        XCTAssertEqual(d.grants.count, 1)
        XCTAssertEqual(d.revokes.count, 0)
    }

    func testANewDenyRevokesForTheGroupItNames() throws {
        let d = try diff(["allow group:eng -> ci:*"], ["allow group:eng -> ci:*", "deny group:eng -> ci:22/tcp"])
        XCTAssertEqual(d.regions.count, 1)
        let r = try XCTUnwrap(d.regions.first)
        XCTAssertEqual(r.identities, ["alice-laptop", "bob-phone"])
        XCTAssertEqual(r.label, "group:eng")
        XCTAssertEqual(r.after.rules, ["org/2"])
        XCTAssertEqual(r.before.rules, ["org/1"])
        XCTAssertEqual(d.revokes.count, 1)
    }

    func testATimeWindowChangeIsReportedAsTheWindowsInWhichItDiffers() throws {
        let d = try diff(
            ["allow group:sre -> ci:22/tcp if time mon-fri 08:00-18:00 Europe/Berlin"],
            ["allow group:sre -> ci:22/tcp if time mon-fri 08:00-20:00 Europe/Berlin"])
        XCTAssertEqual(d.regions.count, 1)
        let r = try XCTUnwrap(d.regions.first)
        XCTAssertFalse(r.time.isAlways)
        // Monday 2026-11-23 18:30 Berlin (17:30 UTC) differs; 09:00 and 21:00 do not.
        XCTAssertTrue(r.time.holds(at: 1_795_455_000))
        XCTAssertFalse(r.time.holds(at: 1_795_420_800))
        XCTAssertFalse(r.time.holds(at: 1_795_464_000))
        XCTAssertEqual(r.time.description, "not time mon-fri 08:00-18:00 Europe/Berlin and time mon-fri 08:00-20:00 Europe/Berlin")
    }

    func testWindowsThatCoincideInWinterDifferInSummer() throws {
        // London is UTC in winter and UTC+1 in summer: the two windows agree half the year.
        let d = try diff(
            ["allow group:sre -> ci:22/tcp if time mon 07:00-08:00 Europe/London"],
            ["allow group:sre -> ci:22/tcp if time mon 07:00-08:00 UTC"])
        XCTAssertEqual(d.regions.count, 2, "a grant and a revoke, both in summer only: \(d.regions.map(\.time.description))")
        let winterMonday0730 = Int64(1_795_419_000), summerMonday0730 = Int64(1_780_299_000), summerMonday0630 = Int64(1_780_295_400)
        XCTAssertFalse(d.regions.contains { $0.time.holds(at: winterMonday0730) })
        XCTAssertEqual(d.grants.first?.time.holds(at: summerMonday0730), true)
        XCTAssertEqual(d.revokes.first?.time.holds(at: summerMonday0630), true)
    }

    func testAddressPrefixesCoverARangeExactly() {
        let span = AddressSpan(family: .v4, lower: UInt128(0x0A00_0003), upper: UInt128(0x0A00_000C))
        XCTAssertEqual(span.prefixes.map(\.description), ["10.0.0.3/32", "10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/32"])
        XCTAssertEqual(AddressSpan(family: .v6, lower: 0, upper: .max).prefixes.map(\.description), ["::/0"])
        XCTAssertEqual(AddressSpan(family: .v4, lower: 0, upper: UInt128(UInt32.max)).prefixes.map(\.description), ["0.0.0.0/0"])
    }

    /// The issue's exactness property, by brute force on a small request space: every request
    /// whose decision differs lies in a reported region with the right verdicts, and every
    /// request in a reported region differs.
    func testRandomPolicyPairsDiffExactlyByBruteForce() throws {
        var rng = SplitMix(seed: 7)
        let subjects = ["*", "group:eng", "group:sre", "tag:managed", "user:bob@example.com", "alice-laptop", "dora-desk"]
        let hosts = ["10.0.0.0/28", "10.0.0.0/29", "10.0.0.8/30", "10.0.0.5", "10.0.0.12/31", "*", "[fd00::/126]"]
        let ports = ["*", "1", "2-5", "3,7", "6-8"]
        let conditions = ["", "", " if tag:managed", " if not group:eng", " if time mon-fri 08:00-18:00 Europe/Berlin",
                          " if tag:eu or time sat,sun 00:00-12:00 UTC", " if not time daily 17:00-09:00 America/New_York"]
        func policy(_ rules: [String], dora: Bool, bob: Bool) -> String {
            """
            policy: org
            identities:
              alice-laptop: { key: "\(PolicyFixtures.keys[0])", user: alice@example.com, tags: [managed, eu] }
            \(bob ? "  bob-phone:    { key: \"\(PolicyFixtures.keys[1])\", user: bob@example.com, tags: [unmanaged] }" : "")
              carol-laptop: { key: "\(PolicyFixtures.keys[2])", user: carol@example.com, tags: [managed] }
            \(dora ? "  dora-desk:    { key: \"\(PolicyFixtures.keys[3])\", user: dora@example.com, tags: [managed] }" : "")
            groups:
              eng: [alice@example.com, bob@example.com]
              sre: [carol@example.com, dora@example.com]
            rules:
            \(rules.map { "  - \($0)" }.joined(separator: "\n"))

            """
        }
        func randomRule() -> String {
            let port = ports.randomElement(using: &rng)!
            let proto = port == "*" ? ["", "/tcp", "/udp", "/icmp"].randomElement(using: &rng)! : ["", "/tcp", "/udp"].randomElement(using: &rng)!
            let action = rng.next() % 3 == 0 ? "deny" : "allow"
            return "\(action) \(subjects.randomElement(using: &rng)!) -> \(hosts.randomElement(using: &rng)!):\(port)\(proto)\(conditions.randomElement(using: &rng)!)"
        }
        let addresses = (0..<18).map { IPAddress(v4: 0x0A00_0000 + UInt32($0)) } + [IPAddress("192.0.2.1")!, IPAddress("fd00::2")!, IPAddress("fd00::9")!]
        // Instants across the week and both sides of the DST changes.
        var instants: [Int64] = [1_795_424_400, 1_795_455_000, 1_795_946_400, 1_780_295_400, 1_774_746_000, 1_792_540_800]
        for _ in 0..<6 { instants.append(1_767_225_600 + Int64(rng.next() % 31_536_000)) }
        var checkedDifferences = 0
        for round in 0..<10 {
            var oldRules = (0..<(4 + round)).map { _ in randomRule() }
            let dora = round % 3 == 0, bob = round % 4 != 1
            let doraOld = round % 2 == 0
            var newRules = oldRules
            for _ in 0..<(1 + round % 3) {
                switch rng.next() % 3 {
                case 0: newRules.append(randomRule())
                case 1: if !newRules.isEmpty { newRules.remove(at: Int(rng.next() % UInt64(newRules.count))) }
                default: if !newRules.isEmpty { newRules[Int(rng.next() % UInt64(newRules.count))] = randomRule() }
                }
            }
            if !doraOld || !dora { oldRules = oldRules.filter { !$0.contains("dora-desk") } }
            if doraOld || !dora { newRules = newRules.filter { !$0.contains("dora-desk") } }
            let (a, _) = try tables(policy(oldRules, dora: dora && doraOld, bob: bob))
            let (b, _) = try tables(policy(newRules, dora: dora && !doraOld, bob: true))
            let d = PolicyDiff.compare(old: a, new: b)
            let context = "old \(oldRules)\nnew \(newRules)"
            let names: [String?] = ["alice-laptop", "bob-phone", "carol-laptop", "dora-desk", nil]
            for name in names {
                for address in addresses {
                    for (proto, number, portList) in [(RegionProtocol.tcp, UInt8(6), Array(UInt16(0)...9)), (.udp, 17, Array(0...9)), (.icmp, 1, [0]), (.icmp, 58, [0]), (.other, 47, [0])] {
                        for port in portList {
                            let inRegion = d.regions.filter { $0.contains(identity: name, address: address, port: port, proto: proto) }
                            for t in instants {
                                func decide(_ x: DecisionTables) -> Decision {
                                    name.map { x.decide(identity: x.identity(named: $0), address: address, port: port, ipProtocol: number, at: t * 1000) }
                                        ?? x.decideForAnyone(address: address, port: port, ipProtocol: number, at: t * 1000)
                                }
                                let before = decide(a), after = decide(b)
                                let holding = inRegion.filter { $0.time.holds(at: t) }
                                let what = "\(name ?? "anyone") -> \(address) \(proto) \(port) at \(t)\n\(context)"
                                if before.verdict != after.verdict {
                                    checkedDifferences += 1
                                    XCTAssertEqual(holding.count, 1, "a differing request lies in exactly one region: \(what)")
                                    if let r = holding.first {
                                        XCTAssertEqual(r.before.verdict, before.verdict, what)
                                        XCTAssertEqual(r.after.verdict, after.verdict, what)
                                        XCTAssertEqual(r.before.rules, Set(a.rules(of: before).map { a.rules[Int($0)].id }).sorted(), what)
                                        XCTAssertEqual(r.after.rules, Set(b.rules(of: after).map { b.rules[Int($0)].id }).sorted(), what)
                                    }
                                } else {
                                    XCTAssertTrue(holding.isEmpty, "a request in a region differs: \(what) in \(holding)")
                                }
                            }
                        }
                    }
                }
            }
            // Regions reach outside the sampled space (a `*` target): their corners differ too.
            for r in d.regions {
                for address in [r.addresses.lower, r.addresses.upper] {
                    let ip = r.addresses.family == .v4 ? IPAddress(v4: UInt32(address)) : IPAddress(v6: address)
                    let number: UInt8 = r.proto == .tcp ? 6 : r.proto == .udp ? 17 : r.proto == .icmp ? 1 : 47
                    for t in instants where r.time.holds(at: t) {
                        for name in r.identities.map(Optional.some) + (r.anyone ? [nil] : []) {
                            func decide(_ x: DecisionTables) -> Verdict {
                                (name.map { x.decide(identity: x.identity(named: $0), address: ip, port: r.ports.upper, ipProtocol: number, at: t * 1000) }
                                    ?? x.decideForAnyone(address: ip, port: r.ports.upper, ipProtocol: number, at: t * 1000)).verdict
                            }
                            XCTAssertEqual(decide(a), r.before.verdict, "\(r)\n\(context)")
                            XCTAssertEqual(decide(b), r.after.verdict, "\(r)\n\(context)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checkedDifferences, 1000, "the random pairs must actually differ")
    }
}
