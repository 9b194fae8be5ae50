import XCTest
@testable import Tunnel

final class RatelimiterTests: XCTestCase {
    private let a = Endpoint(address: [10, 0, 0, 1], port: 1000)
    private let b = Endpoint(address: [10, 0, 0, 2], port: 1000)

    /// As wireguard-go: a burst of 5, then one message per 50 ms per address; the port
    /// does not make a new sender, another address does.
    func testBurstThenTwentyPerSecondPerAddress() {
        var limiter = Ratelimiter()
        let start = ContinuousClock.now
        for i in 0..<5 { XCTAssertTrue(limiter.allow(a, now: start), "burst message \(i)") }
        XCTAssertFalse(limiter.allow(a, now: start))
        XCTAssertFalse(limiter.allow(Endpoint(address: [10, 0, 0, 1], port: 2000), now: start))
        XCTAssertTrue(limiter.allow(b, now: start))
        XCTAssertFalse(limiter.allow(a, now: start + .milliseconds(40)))
        XCTAssertTrue(limiter.allow(a, now: start + .milliseconds(51)))
        // Over one simulated second of hammering, about 20 get through.
        var allowed = 0
        for step in 1...1000 where limiter.allow(a, now: start + .milliseconds(51 + step)) { allowed += 1 }
        XCTAssertTrue((19...21).contains(allowed), "\(allowed) allowed in a second")
    }

    func testIdleEntriesAreCollected() {
        var limiter = Ratelimiter()
        let start = ContinuousClock.now
        _ = limiter.allow(a, now: start)
        _ = limiter.allow(b, now: start)
        XCTAssertEqual(limiter.count, 2)
        _ = limiter.allow(a, now: start + .seconds(3))
        XCTAssertEqual(limiter.count, 1)
    }

    func testUnderLoadAboveTheThresholdAndForOneSecondAfter() {
        var load = LoadMonitor(threshold: 10)
        let start = ContinuousClock.now
        for i in 0..<10 { XCTAssertFalse(load.record(now: start + .milliseconds(i))) }
        XCTAssertTrue(load.record(now: start + .milliseconds(10)))
        XCTAssertTrue(load.isUnderLoad(now: start + .milliseconds(900)))
        XCTAssertFalse(load.isUnderLoad(now: start + .milliseconds(1_011)))
        // A new window starts counting from one.
        XCTAssertFalse(load.record(now: start + .seconds(2)))
    }
}
