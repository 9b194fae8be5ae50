import PolicyLang

/// When, in a week of time windows, something holds: "always", or a set of combinations of
/// the windows being open or closed.
///
/// It is exact: `minterms` are the combinations of window states in which it holds, among those
/// that can occur at all (see ``WindowSpace``), and `cubes` is a shorter description of the same
/// set for people, in which a combination that never occurs may be counted either way.
public struct TimeCondition: Sendable, Hashable, CustomStringConvertible {
    /// The windows the condition is about, in a fixed order; empty for "always".
    package var windows: [TimeWindow]
    /// Each a value per window (open = true) in which the condition holds.
    var minterms: Set<[Bool]>
    /// A disjunction of conjunctions, per window true (open), false (closed) or nil (either).
    var cubes: [[Bool?]]

    /// The condition that holds at every instant (no windows involved).
    package static let always = TimeCondition(windows: [], minterms: [[]], cubes: [[]])

    /// Whether the condition holds at every instant.
    package var isAlways: Bool { windows.isEmpty }

    /// Whether the condition holds at `seconds` (Unix time).
    ///
    /// Cost: builds each window's zone table; meant for tests and single questions.
    public func holds(at seconds: Int64) -> Bool {
        if isAlways { return true }
        let values = windows.map { w in
            TimeAtom(days: w.days, startMinute: Int16(w.startMinute), endMinute: Int16(w.endMinute), zone: 0)
                .evaluate(at: seconds, zone: ZoneTable(zone: w.zone) ?? ZoneTable(name: w.zone, transitions: [], offsets: [0]))
                .open
        }
        return minterms.contains(values)
    }

    /// `always`, or the windows joined by `and`/`or`/`not` in the rule syntax, from the short form.
    public var description: String {
        if isAlways { return "always" }
        let terms = cubes.map { cube in
            let literals = zip(windows, cube).compactMap { w, v in v.map { $0 ? "\(w)" : "not \(w)" } }
            return literals.count > 1 && cubes.count > 1 ? "(\(literals.joined(separator: " and ")))" : literals.joined(separator: " and ")
        }
        return terms.joined(separator: " or ")
    }

    /// The condition that holds in `holding` out of the combinations `feasible` that occur.
    static func make(windows: [TimeWindow], holding: Set<[Bool]>, feasible: Set<[Bool]>) -> TimeCondition {
        if holding == feasible { return .always }
        // Greedy prime implicants: widen each combination by every window whose state does not
        // matter, as long as the widened cube covers no occurring combination outside the set.
        var cubes: [[Bool?]] = []
        for m in holding.sorted(by: { $0.lexicographicallyPrecedes($1) { !$0 && $1 } }) {
            if cubes.contains(where: { covers($0, m) }) { continue }
            var cube: [Bool?] = m
            for i in cube.indices {
                let saved = cube[i]
                cube[i] = nil
                if feasible.contains(where: { covers(cube, $0) && !holding.contains($0) }) { cube[i] = saved }
            }
            cubes.append(cube)
        }
        cubes = cubes.filter { c in !cubes.contains { $0 != c && subsumes($0, c) } }
        return TimeCondition(windows: windows, minterms: holding, cubes: cubes)
    }

    private static func covers(_ cube: [Bool?], _ m: [Bool]) -> Bool {
        zip(cube, m).allSatisfy { c, v in c == nil || c == v }
    }

    private static func subsumes(_ a: [Bool?], _ b: [Bool?]) -> Bool {
        zip(a, b).allSatisfy { x, y in x == nil || x == y }
    }
}

/// The combinations of time windows being open that actually occur, found by walking time.
///
/// A window is weekly in its zone's local time, so while every zone involved keeps one UTC
/// offset the pattern repeats each week. Between two offset changes of the zones involved
/// (an epoch) a walk of one week, from boundary to boundary, sees every combination of that
/// epoch; an epoch shorter than a week is walked whole. The zone tables cover 2020 to 2050 and
/// hold their first and last offset outside, so this covers all time the tables decide.
struct WindowSpace {
    private var zones: [String: ZoneTable] = [:]
    private var memo: [[TimeWindow]: Set<[Bool]>] = [:]

    init(zones: [ZoneTable]) {
        for z in zones { self.zones[z.name] = z }
    }

    private func zone(_ name: String) -> ZoneTable {
        zones[name] ?? ZoneTable(name: name, transitions: [], offsets: [0])
    }

    /// The combinations of `windows` (open or not) that occur at some instant.
    mutating func feasible(_ windows: [TimeWindow]) -> Set<[Bool]> {
        if let known = memo[windows] { return known }
        let week: Int64 = 7 * 86_400
        let zoneNames = Array(Set(windows.map(\.zone))).sorted()
        let tables = zoneNames.map { zone($0) }
        let atoms = windows.map { w in
            (TimeAtom(days: w.days, startMinute: Int16(w.startMinute), endMinute: Int16(w.endMinute), zone: 0), zone(w.zone))
        }
        let transitions = Array(Set(tables.flatMap(\.transitions))).sorted()
        // Epoch walks: [start, end) pairs.
        var walks: [(Int64, Int64)] = []
        if let first = transitions.first {
            walks.append((first - week - 86_400, first))
            for (i, t) in transitions.enumerated() {
                let end = i + 1 < transitions.count ? transitions[i + 1] : Int64.max
                walks.append((t, end))
            }
        } else {
            walks.append((0, week))
        }
        var seen = Set<[Bool]>()
        var walkedOffsets = Set<[Int64]>()
        for (start, end) in walks {
            let offsets = tables.map { $0.offset(at: start).offset }
            let stop = end - start >= week ? start + week : end
            if walkedOffsets.contains(offsets) { continue }
            if stop - start >= week { walkedOffsets.insert(offsets) }
            var t = start
            while t < stop {
                var next = stop
                var values: [Bool] = []
                values.reserveCapacity(atoms.count)
                for (atom, table) in atoms {
                    let (open, until) = atom.evaluate(at: t, zone: table)
                    values.append(open)
                    next = min(next, until)
                }
                seen.insert(values)
                t = next
            }
        }
        memo[windows] = seen
        return seen
    }
}
