import Foundation
import XCTest
@testable import SystemSupport

/// A connected pair of ``Connection``s over a Unix socket in a temporary directory.
struct Pair {
    let listener: UnixListener
    let server: Connection
    let client: Connection

    init(directory: String, deadline: Deadline = .after(.seconds(5))) throws {
        listener = try UnixListener(path: "\(directory)/pair.sock")
        client = try UnixClient.connect(path: listener.path, timeout: .seconds(5))
        server = try listener.accept()!
        server.deadline = deadline
    }
}

/// A signal handler that does nothing: the signal only interrupts the reader's system call.
private let noop: @convention(c) (Int32) -> Void = { _ in }

final class ConnectionTests: XCTestCase {
    func testInterruptedCallsAreRetriedAndOtherFailuresReturned() {
        var calls = 0
        let result = retryingOnInterrupt { () -> Int in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 42
        }
        XCTAssertEqual(try result.get(), 42)
        XCTAssertEqual(calls, 3)
        let failure = retryingOnInterrupt { () -> Int in
            errno = EBADF
            return -1
        }
        XCTAssertEqual(failure, .failure(Errno(rawValue: EBADF)))
    }

    func testAReadInterruptedBySignalsStillGetsTheLine() throws {
        let pair = try Pair(directory: temporaryDirectory())
        // glibc's signal() handler: poll() is interrupted by it whatever SA_RESTART says.
        let previous = signal(SIGUSR1, noop)
        defer { signal(SIGUSR1, previous) }
        let reader = Locked<pthread_t?>(nil)
        let line = Locked<Result<String?, IOError>?>(nil)
        let done = expectation(description: "read")
        let thread = Thread {
            reader.value = pthread_self()
            line.value = Result { () throws(IOError) in try pair.server.readLine(maxLength: 100) }
            done.fulfill()
        }
        thread.start()
        while reader.value == nil { usleep(1000) }
        for _ in 0..<10 {
            pthread_kill(reader.value!, SIGUSR1)
            usleep(20_000)
        }
        try pair.client.write("after the signals\n")
        wait(for: [done], timeout: 5)
        XCTAssertEqual(try line.value?.get(), "after the signals")
    }

    func testWritingToAPeerThatHungUpIsClosedWithoutSIGPIPE() throws {
        // SIGPIPE as a process gets it by default: were MSG_NOSIGNAL missing, this test would die.
        let previous = signal(SIGPIPE, SIG_DFL)
        defer { signal(SIGPIPE, previous) }
        let pair = try Pair(directory: temporaryDirectory())
        pair.client.close()
        let chunk = [UInt8](repeating: 0x41, count: 64 * 1024)
        var error: IOError?
        for _ in 0..<100 {
            do throws(IOError) {
                try pair.server.write(chunk)
            } catch let e {
                error = e
                break
            }
        }
        XCTAssertEqual(error, .closed)
    }

    func testALineSplitAcrossReadsIsJoined() throws {
        let pair = try Pair(directory: temporaryDirectory())
        let writer = Thread {
            for piece in ["hel", "lo\nwor", "ld\nlast"] {
                try? pair.client.write(piece)
                usleep(50_000)
            }
            pair.client.finishWriting()
        }
        writer.start()
        XCTAssertEqual(try pair.server.readLine(maxLength: 16), "hello")
        XCTAssertEqual(try pair.server.readLine(maxLength: 16), "world")
        XCTAssertEqual(try pair.server.readLine(maxLength: 16), "last")
        XCTAssertNil(try pair.server.readLine(maxLength: 16))
    }

    func testALineOfExactlyTheLimitPassesAndALongerOneIsRefused() throws {
        let pair = try Pair(directory: temporaryDirectory())
        try pair.client.write(String(repeating: "a", count: 64) + "\n")
        XCTAssertEqual(try pair.server.readLine(maxLength: 64)?.count, 64)
        try pair.client.write(String(repeating: "b", count: 10_000))
        XCTAssertThrowsError(try pair.server.readLine(maxLength: 64)) { error in
            XCTAssertEqual(error as? IOError, .lineTooLong(limit: 64))
        }
    }

    func testTheDeadlineCoversTheWholeRequestNotEachByte() throws {
        let pair = try Pair(directory: temporaryDirectory(), deadline: .after(.milliseconds(300)))
        let stop = Locked(false)
        let trickle = Thread {
            // A byte every 100 ms: each read would succeed well within a per-read timeout.
            while !stop.value {
                try? pair.client.write("x")
                usleep(100_000)
            }
        }
        trickle.start()
        defer { stop.value = true }
        let start = ContinuousClock.now
        XCTAssertThrowsError(try pair.server.readLine(maxLength: 4096)) { error in
            XCTAssertEqual(error as? IOError, .timedOut)
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .milliseconds(600), "the read ended at the request's deadline")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(280))
    }

    func testReadingToTheEndIsBounded() throws {
        let pair = try Pair(directory: temporaryDirectory())
        try pair.client.write([UInt8](repeating: 1, count: 5000))
        pair.client.finishWriting()
        XCTAssertThrowsError(try pair.server.readToEnd(maxLength: 1000)) { error in
            XCTAssertEqual(error as? IOError, .messageTooLong(limit: 1000))
        }
    }
}
