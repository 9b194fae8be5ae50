import Foundation
import XCTest
@testable import Tunnel

/// The routing table under bulk changes: what removing one value touches, and that
/// lookups stay right after many inserts and removals.
final class AllowedIPsBulkTests: XCTestCase {
    /// Counts the equality checks made on values: a removal that scanned the whole table
    /// would compare against every entry's value.
    final class Comparisons: @unchecked Sendable {
        var count = 0
    }

    struct CountedValue: Hashable, Sendable {
        let id: Int
        let comparisons: Comparisons
        static func == (lhs: CountedValue, rhs: CountedValue) -> Bool {
            lhs.comparisons.count += 1
            return lhs.id == rhs.id
        }
        func hash(into hasher: inout Hasher) { hasher.combine(id) }
    }

    func testRemovingOneValueTouchesOnlyItsOwnPrefixes() {
        let comparisons = Comparisons()
        var table = AllowedIPs<CountedValue>()
        let values = (0..<20_000).map { CountedValue(id: $0, comparisons: comparisons) }
        for (i, value) in values.enumerated() { table.insert(IPPrefix(masking: IPAddress(v4: 0x0A00_0000 + UInt32(i)), length: 32)!, value) }
        comparisons.count = 0
        table.removeAll(values[12_345])
        XCTAssertLessThan(comparisons.count, 20, "removing one value's single prefix compared \(comparisons.count) values")
        XCTAssertNil(table.lookup(IPAddress(v4: 0x0A00_0000 + 12_345)))
        XCTAssertEqual(table.lookup(IPAddress(v4: 0x0A00_0000 + 12_346)), values[12_346])
        comparisons.count = 0
        table.insert(IPPrefix(masking: IPAddress(v4: 0x0B00_0000), length: 32)!, values[7])
        XCTAssertLessThan(comparisons.count, 20, "one insert compared \(comparisons.count) values")
    }

    func testLookupsAreRightAfterBulkInsertsAndRemovals() {
        var table = AllowedIPs<Int>()
        // 10.0.0.0/16 for value -1 under 10,000 host routes and a v6 twin of each.
        table.insert(IPPrefix("10.0.0.0/16")!, -1)
        for i in 0..<10_000 {
            table.insert(IPPrefix(masking: IPAddress(v4: 0x0A00_0000 + UInt32(i)), length: 32)!, i)
            table.insert(IPPrefix(masking: IPAddress(v6: UInt128(0xFD00_0000_0000_0000) << 64 | UInt128(UInt64(i))), length: 128)!, i)
        }
        for i in stride(from: 0, to: 10_000, by: 2) { table.removeAll(i) }
        for i in 0..<10_000 {
            XCTAssertEqual(table.lookup(IPAddress(v4: 0x0A00_0000 + UInt32(i))), i % 2 == 0 ? -1 : i, "10.0.x.y #\(i)")
            XCTAssertEqual(table.lookup(IPAddress(v6: UInt128(0xFD00_0000_0000_0000) << 64 | UInt128(UInt64(i)))), i % 2 == 0 ? nil : i, "fd00::#\(i)")
            XCTAssertEqual(table.count(of: i), i % 2 == 0 ? 0 : 2)
        }
        table.removeAll(-1)
        XCTAssertNil(table.lookup(IPAddress(v4: 0x0A00_0000)))
        XCTAssertNil(table.lookup(IPAddress(v4: 0x0A00_FFFF)), "the /16 is gone, so is its length")
    }

    func testAPrefixTakenOverLeavesItsFormerOwner() {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("10.0.0.0/24")!, "a")
        table.insert(IPPrefix("10.0.1.0/24")!, "a")
        table.insert(IPPrefix("10.0.0.0/24")!, "b")
        XCTAssertEqual(table.prefixes(of: "a"), [IPPrefix("10.0.1.0/24")!])
        XCTAssertEqual(table.prefixes(of: "b"), [IPPrefix("10.0.0.0/24")!])
        table.removeAll("a")
        XCTAssertEqual(table.lookup(IPAddress("10.0.0.9")!), "b", "removing a must not take b's prefix")
    }

    func testRemovingOnePrefixOnlyRemovesItForItsOwner() {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("10.0.0.0/24")!, "a")
        table.remove(IPPrefix("10.0.0.0/24")!, "b")
        XCTAssertEqual(table.lookup(IPAddress("10.0.0.1")!), "a")
        table.remove(IPPrefix("10.0.0.0/24")!, "a")
        XCTAssertNil(table.lookup(IPAddress("10.0.0.1")!))
        XCTAssertEqual(table.prefixes(of: "a"), [])
    }

    func testPrefixesAreListedIPv4FirstThenLongestFirstThenByAddress() {
        var table = AllowedIPs<String>()
        for text in ["fd00::/64", "10.0.0.0/8", "10.2.0.0/16", "fd00::1/128", "10.1.0.0/16", "0.0.0.0/0"] {
            table.insert(IPPrefix(text)!, "a")
        }
        XCTAssertEqual(table.prefixes(of: "a").map(\.description),
                       ["10.1.0.0/16", "10.2.0.0/16", "10.0.0.0/8", "0.0.0.0/0", "fd00::1/128", "fd00::/64"])
    }
}
