import Foundation
import XCTest
@testable import SystemSupport

final class DirectoryEventsTests: XCTestCase {
    func testAChangeIsSeenAndQuietTimesOut() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let events = try DirectoryEvents(watching: dir)
        XCTAssertEqual(try events.wait(timeout: .milliseconds(50)), .quiet)
        _ = FileManager.default.createFile(atPath: "\(dir)/a", contents: Data("x".utf8))
        XCTAssertEqual(try events.wait(timeout: .seconds(2)), .changed)
        XCTAssertEqual(try events.wait(timeout: .milliseconds(50)), .quiet, "all events of the change were read")
    }

    func testInterruptEndsAWaitAndEveryLaterOne() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let events = try DirectoryEvents(watching: dir)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { events.interrupt() }
        XCTAssertEqual(try events.wait(timeout: nil), .interrupted)
        XCTAssertEqual(try events.wait(timeout: nil), .interrupted)
    }

    func testWatchingAMissingDirectoryIsATypedError() {
        XCTAssertThrowsError(try DirectoryEvents(watching: "/nonexistent/policies")) { error in
            XCTAssertEqual(error as? IOError, .watchFailed(path: "/nonexistent/policies", .noSuchFile))
        }
    }
}
