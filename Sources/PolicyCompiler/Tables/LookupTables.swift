import Foundation

/// The index's largest tables (segment rows, port tables, outcomes), read-only, end to end in one
/// allocation that is aligned to and, on Linux, advised for 2 MiB pages when it is large.
///
/// At 10,000 rules a decision makes three dependent loads into 6 MB of tables, at random; with
/// 4 KiB pages each of them also missed the TLB (and a page walk in a VM costs more than the
/// cache miss itself). Three or four huge pages cover all of it.
final class LookupTables: @unchecked Sendable {
    let v4Rows: UnsafeMutablePointer<UInt32>
    let v6Rows: UnsafeMutablePointer<UInt32>
    let ports: UnsafeMutablePointer<UInt32>
    let outcomes: UnsafeMutablePointer<DecisionIndex.Outcome>
    /// How many words ``ports`` holds.
    let portWords: Int
    let outcomeCount: Int

    private let memory: UnsafeMutableRawPointer
    private let mappedBytes: Int  // 0: `memory` came from posix_memalign

    private static let hugePage = 1 << 21

    init(v4Rows a: [UInt32], v6Rows b: [UInt32], ports p: [UInt32], outcomes o: [DecisionIndex.Outcome]) {
        func lines(_ bytes: Int) -> Int { (bytes + 63) & ~63 }
        let sizes = [lines(a.count * 4), lines(b.count * 4), lines(p.count * 4), lines(o.count * MemoryLayout<DecisionIndex.Outcome>.stride)]
        let bytes = max(64, sizes.reduce(0, +))
        let (memory, mappedBytes, start) = Self.allocate(bytes)
        self.memory = memory
        self.mappedBytes = mappedBytes
        v4Rows = start.bindMemory(to: UInt32.self, capacity: a.count)
        v6Rows = (start + sizes[0]).bindMemory(to: UInt32.self, capacity: b.count)
        ports = (start + sizes[0] + sizes[1]).bindMemory(to: UInt32.self, capacity: p.count)
        outcomes = (start + sizes[0] + sizes[1] + sizes[2]).bindMemory(to: DecisionIndex.Outcome.self, capacity: o.count)
        v4Rows.initialize(from: a, count: a.count)
        v6Rows.initialize(from: b, count: b.count)
        ports.initialize(from: p, count: p.count)
        outcomes.initialize(from: o, count: o.count)
        portWords = p.count
        outcomeCount = o.count
    }

    /// The memory to free or unmap, the mapped length (0: from posix_memalign), and the aligned start.
    private static func allocate(_ bytes: Int) -> (UnsafeMutableRawPointer, Int, UnsafeMutableRawPointer) {
        #if os(Linux)
            if bytes >= hugePage / 2 {
                let length = (bytes + hugePage - 1) / hugePage * hugePage + hugePage
                if let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED {
                    let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: m) + hugePage - 1) & ~(hugePage - 1))!
                    _ = madvise(aligned, length - hugePage, Int32(MADV_HUGEPAGE))
                    return (m, length, aligned)
                }
            }
        #endif
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("cannot allocate \(bytes) bytes of lookup tables") }
        return (raw, 0, raw)
    }

    deinit {
        if mappedBytes > 0 {
            #if os(Linux)
                munmap(memory, mappedBytes)
            #endif
        } else {
            free(memory)
        }
    }
}
