import PolicyLang

/// Groups that include users and other groups, flattened: each group's users, directly or
/// through any depth of nesting, with cycles and limits reported.
///
/// One iterative depth-first walk, in name order and member order, visits each group once and
/// each member reference once; a group's users are computed when its walk finishes, from its
/// own users and the finished sets of the groups it includes (each included group counted once
/// however often it is listed). The cost is linear in the graph plus the size of the flattened
/// sets, which ``PolicyLimits/maxMemberships`` bounds; no recursion, so no chain is too deep
/// for the stack.
struct GroupGraph {
    /// Flattened membership: group name to its users.
    private(set) var users: [String: Set<String>] = [:]
    private(set) var diagnostics: [Diagnostic] = []

    init(_ groups: [String: GroupDecl], limits: PolicyLimits, budget: CompileBudget?) throws(CompileInterrupted) {
        // Included groups of each group: defined ones only, duplicates collapsed, first span kept.
        var includes: [String: [(name: String, span: SourceSpan)]] = [:]
        for (name, g) in groups {
            var seen = Set<String>()
            includes[name] = g.members.compactMap { m in
                guard case .group(let inner) = m.value, groups[inner] != nil, seen.insert(inner).inserted else { return nil }
                return (inner, m.span)
            }
        }

        enum State { case onPath, done }
        var state: [String: State] = [:]
        var depth: [String: Int] = [:]
        var reportedCycles = Set<[String]>()
        var memberships = 0
        var overLimit = false
        var tooDeepReported = false
        // The walk's path: each group with the index of its next member to look at.
        var path: [(name: String, next: Int)] = []
        var position: [String: Int] = [:]

        for root in groups.keys.sorted() where state[root] == nil {
            state[root] = .onPath
            position[root] = 0
            path = [(root, 0)]
            while let top = path.last {
                let edges = includes[top.name] ?? []
                if top.next < edges.count {
                    path[path.count - 1].next += 1
                    let (inner, span) = edges[top.next]
                    switch state[inner] {
                    case .onPath?:
                        let cycle = path[position[inner]!...].map(\.name) + [inner]
                        if reportedCycles.insert(Set(cycle).sorted()).inserted {
                            diagnostics.append(
                                .error(
                                    .groupCycle, "group cycle: \(cycle.joined(separator: " -> "))", at: span,
                                    notes: [.init("'\(inner)' is defined here", at: groups[inner]?.name.span)],
                                    help: "a group cannot contain itself, directly or through other groups"))
                        }
                    case .done?: break
                    case nil:
                        state[inner] = .onPath
                        position[inner] = path.count
                        path.append((inner, 0))
                    }
                    continue
                }
                // Every member of `top` is finished (or on the path, in a cycle already reported).
                try budget?.check()
                path.removeLast()
                position[top.name] = nil
                state[top.name] = .done
                let g = groups[top.name]!
                var set = Set<String>()
                var d = 1
                for m in g.members { if case .user(let u) = m.value { set.insert(u) } }
                for (inner, _) in edges where state[inner] == .done {
                    if let innerUsers = users[inner] { set.formUnion(innerUsers) }
                    d = max(d, (depth[inner] ?? 1) + 1)
                }
                depth[top.name] = d
                if d > limits.maxGroupNesting && !tooDeepReported {
                    tooDeepReported = true
                    diagnostics.append(
                        .error(
                            .groupNestingTooDeep,
                            "group '\(top.name)' nests groups \(d) deep; the limit is \(limits.maxGroupNesting)",
                            at: g.name.span, help: "flatten the chain: list the users, or include fewer levels of groups"))
                }
                guard !overLimit else { continue }
                memberships += set.count
                if memberships > limits.maxMemberships {
                    overLimit = true
                    diagnostics.append(Self.tooManyMemberships(limits, at: g.name.span))
                    continue
                }
                users[top.name] = set
            }
        }
        for name in groups.keys where users[name] == nil { users[name] = [] }
    }

    static func tooManyMemberships(_ limits: PolicyLimits, at span: SourceSpan?) -> Diagnostic {
        .error(
            .tooManyMemberships,
            "flattened group membership passes \(limits.maxMemberships) users in groups and groups of identities",
            at: span, help: "large groups included by many other groups multiply; include the large group directly in rules instead")
    }
}
