import Foundation
import XCTest
@testable import Tunnel

/// The helper thread that takes half of a batch's crypto.
final class CryptoWorkerTests: XCTestCase {
    func testEveryIndexRunsOnceOnOneOfTwoThreadsAndTheCallReturnsWhenAllAreDone() {
        let worker = CryptoWorker(name: "test-crypto")
        defer { worker.stop() }
        let count = 101
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: count)
        let threads = UnsafeMutablePointer<UInt>.allocate(capacity: count)
        defer { runs.deallocate(); threads.deallocate() }
        for round in 0..<200 {
            runs.initialize(repeating: 0, count: count)
            worker.forEach(count) { i in
                runs[i] += 1
                threads[i] = UInt(bitPattern: Int(pthread_self()))
            }
            // Read only after the call: it must not return before the helper's half is done.
            XCTAssertTrue((0..<count).allSatisfy { runs[$0] == 1 }, "round \(round): an index ran twice or not at all")
            if round == 0 {
                let caller = UInt(bitPattern: Int(pthread_self()))
                XCTAssertTrue((0..<count / 2).allSatisfy { threads[$0] == caller }, "the lower half runs on the caller")
                XCTAssertTrue((count / 2..<count).allSatisfy { threads[$0] != caller }, "the upper half runs on the helper")
            }
        }
    }

    func testSmallBatchesRunOnTheCallerAlone() {
        let worker = CryptoWorker(name: "test-crypto")
        defer { worker.stop() }
        let caller = pthread_self()
        var others = 0
        worker.forEach(CryptoWorker.minimumToSplit - 1) { _ in if pthread_equal(pthread_self(), caller) == 0 { others += 1 } }
        XCTAssertEqual(others, 0)
    }
}
