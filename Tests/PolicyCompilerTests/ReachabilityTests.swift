import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

final class ReachabilityTests: XCTestCase {
    private let rules = [
        "allow group:eng -> ci:443,8443/tcp web:80-90/tcp", "deny user:bob@example.com -> ci:22/tcp",
        "allow group:oncall -> ci:22/tcp", "allow * -> 10.0.0.53:53",
        "allow group:sre -> prod-db:* if time mon-fri 08:00-18:00 Europe/Berlin",
        "allow * -> 10.99.0.0/24:22/tcp",
    ]

    private func compile() throws -> Compilation {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: rules)], lint: false, tests: false)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        return c
    }

    func testWhoCanReachAnAddressAndPortNamesTheAllowingRuleAndNotTheDenied() throws {
        let c = try compile()
        let ci = IPAddress("10.20.1.5")!
        let dest = Reachability.Destination(addresses: [AddressSpan(family: .v4, lower: ci.value, upper: ci.value)], ports: PortRange(22, 22), protocols: [.tcp])
        let regions = Reachability.whoCan(c.tables!, set: c.resolved, reach: dest)
        XCTAssertEqual(regions.map(\.identities), [["carol-laptop", "erin-laptop"]])
        XCTAssertEqual(regions.first?.label, "group:oncall")
        XCTAssertEqual(regions.first?.after.rules, ["org/3"])
    }

    func testTimeWindowedAccessCarriesItsWindowAndDropsOutsideIt() throws {
        let c = try compile()
        let db = Reachability.Destination(addresses: [AddressSpan(family: .v4, lower: IPAddress("10.10.0.7")!.value, upper: IPAddress("10.10.0.7")!.value)])
        let any = Reachability.whoCan(c.tables!, set: c.resolved, reach: db)
        XCTAssertFalse(any.isEmpty)
        XCTAssertTrue(any.allSatisfy { $0.identities == ["carol-laptop"] && !$0.time.isAlways })
        XCTAssertTrue(Reachability.whoCan(c.tables!, set: c.resolved, reach: db, atSeconds: 1_795_946_400).isEmpty, "Sunday")
        XCTAssertFalse(Reachability.whoCan(c.tables!, set: c.resolved, reach: db, atSeconds: 1_795_424_400).isEmpty, "Monday 10:00 Berlin")
    }

    func testEverythingAnIdentityCanReachIsExactlyWhatItIsAllowed() throws {
        let c = try compile()
        let t = c.tables!
        let addresses = ["10.20.1.5", "10.20.1.6", "10.30.2.2", "10.0.0.53", "10.10.0.1", "10.99.0.4", "fd00:30::1", "192.0.2.1"].map { IPAddress($0)! }
        for (index, identity) in t.identities.enumerated() {
            let regions = Reachability.reachable(t, set: c.resolved, identity: index)
            XCTAssertTrue(regions.allSatisfy { $0.after.verdict == .allow && $0.identities == [identity.name] })
            for address in addresses {
                for (proto, number) in [(RegionProtocol.tcp, UInt8(6)), (.udp, 17), (.icmp, 1)] {
                    for port: UInt16 in [22, 53, 85, 443, 8443, 9000] {
                        for at: Int64 in [1_795_424_400, 1_795_946_400] {
                            let allowed = t.decide(identity: index, address: address, port: port, ipProtocol: number, at: at * 1000).verdict == .allow
                            let listed = regions.contains { $0.contains(identity: identity.name, address: address, port: port, proto: proto) && $0.time.holds(at: at) }
                            XCTAssertEqual(listed, allowed, "\(identity.name) -> \(address) \(proto) \(port) at \(at)")
                        }
                    }
                }
            }
        }
        let anyone = Reachability.reachable(t, identity: nil)
        XCTAssertTrue(anyone.allSatisfy(\.anyone))
        XCTAssertTrue(anyone.contains { $0.contains(identity: nil, address: IPAddress("10.99.0.4")!, port: 22, proto: .tcp) }, "traffic toward clients")
    }
}
