import XCTest
@testable import Enforcer

final class DecisionCacheTests: XCTestCase {
    func key(_ n: Int, peer: UInt32 = 1) -> FlowKey {
        FlowKey(
            peer: peer, ipProtocol: 6, isV6: n % 2 == 0, client: UInt128(0x0A63_0000 + n), resource: UInt128(0x0A0A_0007) << 64,
            clientPort: UInt16(1024 + n), resourcePort: 443)
    }

    func entry(_ k: FlowKey, allowed: Bool = true, at: Int64, generation: UInt64 = 1) -> DecisionCache.Entry {
        .init(key: k, allowed: allowed, explicitDeny: !allowed, towardClient: false, validUntil: at + 5000, lastSeen: at, generation: generation)
    }

    func testAnEntryIsOneCacheLine() {
        XCTAssertEqual(MemoryLayout<DecisionCache.Entry>.stride, 64)
    }

    func testAStoredFlowIsFoundWithItsVerdictAndGeneration() throws {
        let c = DecisionCache(capacity: 64)
        c.store(entry(key(1), allowed: false, at: 10, generation: 7))
        let e = try XCTUnwrap(c.lookup(key(1)))
        XCTAssertFalse(e.allowed)
        XCTAssertTrue(e.explicitDeny)
        XCTAssertFalse(e.towardClient)
        XCTAssertTrue(e.made(under: 7))
        XCTAssertFalse(e.made(under: 8), "a reload makes every entry stale")
        XCTAssertNil(c.lookup(key(2)))
        XCTAssertEqual(c.lookup(key(1), touchingAt: 99)?.lastSeen, 10, "the entry as it was")
        XCTAssertEqual(c.lookup(key(1))?.lastSeen, 99, "then marked seen")
        c.store(entry(key(1), allowed: true, at: 100, generation: 8))
        XCTAssertEqual(c.count, 1, "the same flow replaces its entry")
        XCTAssertTrue(try XCTUnwrap(c.lookup(key(1))).allowed)
    }

    func testAFullTableEvictsTheLeastRecentlySeenAndStaysBounded() {
        let c = DecisionCache(capacity: 16)
        for n in 0..<200 { c.store(entry(key(n), at: Int64(n))) }
        XCTAssertEqual(c.count, 16)
        XCTAssertNotNil(c.lookup(key(199)), "the newest flow is kept")
        XCTAssertNil(c.lookup(key(0)), "the oldest is gone")
    }

    func testEndingASessionForgetsOnlyItsFlows() {
        let c = DecisionCache(capacity: 256)
        for n in 0..<20 { c.store(entry(key(n, peer: n % 2 == 0 ? 1 : 2), at: 0)) }
        c.removeAll(peer: 1)
        XCTAssertEqual(c.count, 10)
        XCTAssertNil(c.lookup(key(0, peer: 1)))
        XCTAssertNotNil(c.lookup(key(1, peer: 2)))
    }
}
