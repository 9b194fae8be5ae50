import XCTest
@testable import Tunnel

final class SodiumInitTests: XCTestCase {
    func testSodiumInitialisesOnce() {
        Sodium.ensureInitialised()
        Sodium.ensureInitialised()
    }
}
