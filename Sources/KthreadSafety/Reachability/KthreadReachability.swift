import PatchModel

/// What a patch carries about kthread safety: every function from which one of
/// the patched functions is reachable in the direct-call graph, each with the
/// next hop of one shortest call path, so any path can be rebuilt without
/// storing it. Versioned and compact (`encode()`), embedded in the patch
/// module's metadata by the builder and read back by `apply` and `info`.
public struct KthreadReachability: Equatable, Codable, Sendable {
    public static let formatVersion: UInt16 = 5
    static let magic: [UInt8] = Array("KPKR".utf8)

    public struct Function: Equatable, Codable, Sendable {
        public var name: String
        /// Compilation unit defining it ("" when defined outside the analysed file).
        public var unit: String
        /// Index in `functions` of the next function toward a patched one; nil for a patched function.
        public var next: Int?
        /// How this function reaches `next`.
        public var kind: CallKind?
        /// No value of the targets leaves this function toward its callers (format 4: none comes into it, or
        /// it has no channel for it, by the value-flow search; formats 2 and 3: it returns nothing and takes
        /// no writable pointer).
        public var passesNothingBack = false
        /// Format 5: the bodies inlined into this function, outermost first, whose code makes the call to `next`
        /// (empty: its own code makes it). The path goes from frame to frame; these are shown between.
        public var via: [String] = []

        public var ref: FunctionRef { FunctionRef(name: name, unit: unit) }
    }

    /// Which rule the targets of this record fall under (docs/KTHREAD-SAFETY.md).
    public enum Scope: UInt8, Codable, Sendable, CustomStringConvertible {
        /// Targets that may hand values back to their callers (or whose prototype
        /// is unknown), and callback callees, reached only through functions that
        /// may pass values back too: values they produce can reach the caller's
        /// frame. An unconverted kthread that can still reach one is refused.
        case passesValues = 0
        /// All the replaced functions of one compilation unit, reached through any
        /// function: an unconverted kthread of that unit (sharing its static data)
        /// is refused, any other gets a note.
        case unit = 1
        /// Targets that use the running task (`current`): what they write there the
        /// calling kthread reads, whatever the functions between return. Reached
        /// through every function; an unconverted kthread that can still reach one is refused.
        case changesCallingTask = 2

        public var description: String {
            switch self {
            case .passesValues: return "may pass values back"
            case .unit: return "are all the replaced functions of their file"
            case .changesCallingTask: return "use the running task (current)"
            }
        }
    }

    /// Format 4 and later: `passesNothingBack` says no value of the targets comes into the function.
    public var valueFlow = true

    /// On a path toward a target (`path(from:)`, or its tail): the function where the targets' value
    /// stops, i.e. the first one from the target up that hands none on (the target itself when it hands
    /// nothing back); nil when every function on the path hands it on.
    public func valueStop(on path: [Function]) -> Function? {
        guard valueFlow else { return path.first { $0.passesNothingBack } }
        // A body inlined into the function before it runs in that frame: the value stops in a frame.
        let frames = path.indices.filter { $0 == path.startIndex || path[$0 - 1].kind != .inlined }
        return frames.last { path[$0].passesNothingBack }.map { path[$0] }
    }

    /// Where the graph came from: the analysed file's build id, or its name.
    public var source: String
    /// The livepatch object analysed (`vmlinux` or a module name); "" in records
    /// of format 1 and 2, which did not say.
    public var object: String = ""
    public var scope: Scope
    /// The patched functions first (`functions[0..<targetCount]`), then the rest in BFS order.
    public var functions: [Function]
    public var targetCount: Int
    /// Indices in `functions` of kthread entry functions found statically in the analysed file.
    public var kthreadEntries: [Int]
    /// For thread functions whose code was analysed: from each point where the
    /// kthread can be asleep in it (offset from its entry), the indices of the
    /// functions it calls or inlines that can still run and reach a target.
    public var resumeTables: [ResumeTable] = []

    /// Format 4: whether the data the writers write and the thread functions read was compared (`sharedData`).
    public var dataChecked = false
    /// Thread functions (statically found kthread entries of this record) whose own code reads static or
    /// global data that a target, or a function a target's value comes into, writes.
    public var sharedData: [SharedData] = []

    public struct SharedData: Equatable, Codable, Sendable {
        /// Index in `functions` of the thread function.
        public var entry: Int
        /// Index in `functions` of the writer.
        public var writer: Int
        /// The data (symbol name, or why the code could not tell).
        public var data: String
        /// Format 5: the function the thread function calls that reads it (nil: its own code does).
        public var readIn: String?
    }

    public struct ResumeTable: Equatable, Codable, Sendable {
        /// Index in `functions` of the thread function.
        public var function: Int
        public var points: [UInt32: [Int]]
    }

    public var targets: ArraySlice<Function> { functions[0..<targetCount] }

    /// Reachability of the functions named `targets` (every same-named static counts).
    public init(graph: CallGraph, targets: [String], source: String? = nil, scope: Scope = .passesValues, object: String = "") throws {
        var nodes: [Int] = []
        for name in targets {
            let found = graph.nodes(named: name)
            guard !found.isEmpty else { throw CallGraphError.unknownFunction(name) }
            nodes += found
        }
        self.init(graph: graph, targetNodes: nodes, source: source, scope: scope, object: object)
    }

    public init(graph: CallGraph, targetNodes: [Int], source: String? = nil, scope: Scope = .passesValues, object: String = "") {
        // Where the targets' values go: only through the calls that bring a value back into the caller.
        let holding = Self.valueFlow(graph: graph, targetNodes: targetNodes, scope: scope)
        // A function hands a value on when one comes into it and it has a channel to its callers for it.
        let handsOn = Set(holding.channels.filter { !$0.value.isEmpty }.keys)
        let search: (order: [Int], next: [Int?], kind: [CallKind?], via: [Int: [Int]])
        if scope == .passesValues {
            search = (holding.order, holding.next, holding.kind, holding.via)
        } else {
            let all = ReverseReachability(graph: graph, targets: targetNodes)
            search = (all.order, all.next, all.kind, [:])
        }
        self.object = object
        var index: [Int: Int] = [:]
        for (i, node) in search.order.enumerated() { index[node] = i }
        functions = search.order.indices.map { i in
            let node = search.order[i]
            return Function(name: graph.name(of: node), unit: graph.unit(of: node),
                            next: search.next[i].flatMap { index[$0] }, kind: search.kind[i],
                            passesNothingBack: !handsOn.contains(node), via: (search.via[node] ?? []).map(graph.name(of:)))
        }
        targetCount = search.next.firstIndex(where: { $0 != nil }) ?? search.order.count
        kthreadEntries = Array(Set(graph.kthreadSpawns.compactMap { index[Int($0.entry)] })).sorted()
        self.source = source ?? graph.buildID ?? ""
        self.scope = scope
    }

    /// Where the targets' values go. A `passesValues` record's targets are taken to hand values back (callback
    /// callees count so whatever their prototype); in the other records only those whose prototype can are followed.
    static func valueFlow(graph: CallGraph, targetNodes: [Int], scope: Scope) -> ValueFlowSearch {
        let valueTargets = scope == .passesValues ? targetNodes : targetNodes.filter { graph.interface(of: $0).mayPassValuesBack }
        return ValueFlowSearch(graph: graph, targets: valueTargets, forced: Set(valueTargets.filter { graph.signature(of: $0).passesNothingBack }))
    }

    /// Records which of each analysed thread function's calls can still run from
    /// where it sleeps; only the functions of this record (those reaching a target) are kept.
    /// `keepHop(function, hop)`: whether a value can come from the hop into the thread function
    /// (a `passesValues` record keeps only those).
    /// A record searched through every edge (not a value record) reaches the calls made inside inlined bodies
    /// through the bodies: those hops are left out (its paths then show the bodies).
    public mutating func attach(_ resume: [KthreadResumePoints], keepHop: (Int, Int) -> Bool = { _, _ in true }) {
        var byName: [String: [Int]] = [:]
        for (index, function) in functions.enumerated() { byName[function.name, default: []].append(index) }
        for table in resume {
            let dropped = scope == .passesValues ? [] : table.inlinedBodyCalls
            for function in byName[table.function] ?? [] {
                let points = table.points.mapValues { hops in
                    hops.subtracting(dropped).sorted().flatMap { byName[$0] ?? [] }.filter { $0 != function && keepHop(function, $0) }
                }
                resumeTables.append(ResumeTable(function: function, points: points))
            }
        }
    }

    /// For a value record: whether a value comes from the hop (an index in `functions`) into the thread function's
    /// frame (an index too), through the calls its code makes to the hop, or because the hop's body is inlined into
    /// it and holds one (a value that stops in code inlined into the thread function stops in the loop's own frame).
    /// What `attach(_:keepHop:)` keeps.
    public func valueHops(graph: CallGraph) -> (Int, Int) -> Bool {
        let nodesOf = graphNodes(graph)
        let flow = Self.valueFlow(graph: graph, targetNodes: targets.indices.flatMap { nodesOf[$0] ?? [] }, scope: scope)
        return { function, hop in
            (nodesOf[function] ?? []).contains { frame in (nodesOf[hop] ?? []).contains { flow.comesIn(to: frame, from: $0) } }
        }
    }

    /// The functions that can still run from `offset` in the thread function
    /// `name` and reach a target; nil when the record has no such point.
    /// `symbol` is the frame's symbol as the stack shows it: `fn` or `fn.cold` (its cold part).
    public func resumeHops(function symbol: String, offset: UInt64) -> [Int]? {
        let functionIndices = Set(indices(named: symbol))
        guard let key = KthreadResumePoints.key(symbol: symbol, offset: offset) else { return nil }
        return resumeTables.first { functionIndices.contains($0.function) }?.points[key]
    }

    /// Compares the data the writers (the targets, and the functions one of their values comes into)
    /// write with the data each statically found thread function of the record reads, from the code
    /// of the file the graph came from. Code that could not be decoded counts as sharing.
    public mutating func attachSharedData(graph: CallGraph, reader: DataAccessReader) {
        let entries = Set(kthreadEntries).sorted()
        dataChecked = true
        sharedData = []
        guard !entries.isEmpty else { return }
        var rangesByNode: [UInt32: [(UInt64, UInt64)]] = [:]
        for i in graph.rangeNode.indices { rangesByNode[graph.rangeNode[i], default: []].append((graph.rangeLow[i], graph.rangeHigh[i])) }
        let nodesOf = graphNodes(graph)
        func accesses(nodes: [Int]) -> DataAccesses {
            var all = DataAccesses()
            if nodes.isEmpty { all.complete = false }
            for node in nodes {
                let one = reader.accesses(ranges: rangesByNode[UInt32(node)] ?? [])
                all.reads.formUnion(one.reads); all.writes.formUnion(one.writes); all.complete = all.complete && one.complete
            }
            return all
        }
        func accesses(_ index: Int) -> DataAccesses { accesses(nodes: nodesOf[index] ?? []) }
        /// The loop's code: the thread function's own (with what is inlined into it), and the functions its frame
        /// calls that can hand something back to it (one level: what they read reaches the loop through their result
        /// or the objects they write; a function that hands nothing back keeps what it reads to itself). Functions
        /// defined elsewhere have no code here.
        /// `readBy`: for data only a callee reads, that callee; `undecoded`: the first function whose code was not
        /// fully decoded.
        func loopReads(_ entry: Int) -> (accesses: DataAccesses, readBy: [DataAddress: Int], undecoded: String?) {
            let own = nodesOf[entry] ?? []
            var all = accesses(nodes: own), readBy: [DataAddress: Int] = [:]
            var undecoded = all.complete ? nil : functions[entry].name
            let callees = Set(own.flatMap { graph.frameCallees(of: $0) }).subtracting(own).filter {
                !(rangesByNode[UInt32($0)] ?? []).isEmpty && !graph.signature(of: $0).passesNothingBack
            }
            for callee in callees.sorted() {
                let one = accesses(nodes: [callee])
                for data in one.reads where !all.reads.contains(data) && readBy[data] == nil { readBy[data] = callee }
                if !one.complete && undecoded == nil { undecoded = graph.name(of: callee) }
            }
            all.reads.formUnion(readBy.keys)
            all.complete = undecoded == nil
            return (all, readBy, undecoded)
        }
        // The writers: the targets (everything they write), and every function a target's value comes into (whether
        // or not it hands it on): what it stores of that value, where its code says so, else everything it writes.
        let flow = Self.valueFlow(graph: graph, targetNodes: targets.indices.flatMap { nodesOf[$0] ?? [] }, scope: scope)
        let holders = Set(flow.order)
        let writers = functions.indices.filter { index in index < targetCount || (nodesOf[index] ?? []).contains(where: holders.contains) }
        func writtenBy(_ index: Int) -> DataAccesses {
            guard index >= targetCount else { return accesses(index) }
            var all = DataAccesses()
            for node in nodesOf[index] ?? [] where holders.contains(node) {
                guard let stores = flow.keptValueStores(of: node, graph: graph) else {
                    let every = accesses(nodes: [node])
                    all.writes.formUnion(every.writes); all.complete = all.complete && every.complete
                    continue
                }
                all.writes.formUnion(stores.compactMap(reader.dataWritten(at:)))
            }
            return all
        }
        var writes: [Int: DataAccesses] = [:]
        for entry in entries {
            // Only the writers the thread function can call count (not itself: a value coming into it is the value rule's).
            var reachable = Set<Int>(), stack = nodesOf[entry] ?? []
            while let node = stack.popLast() {
                for (callee, _) in graph.callees(of: node) where reachable.insert(callee).inserted { stack.append(callee) }
            }
            let mine = writers.filter { $0 != entry && (nodesOf[$0] ?? []).contains(where: reachable.contains) }
            let (reads, readBy, undecoded) = loopReads(entry)
            for writer in mine {
                if writes[writer] == nil { writes[writer] = writtenBy(writer) }
                let written = writes[writer]!
                if !reads.complete || !written.complete {
                    let unclear = undecoded ?? functions[writer].name
                    sharedData.append(SharedData(entry: entry, writer: writer, data: "data not known: the code of \(unclear) was not fully decoded"))
                    break
                }
                let shared = written.writes.intersection(reads.reads).map { (reader.name(of: $0), readBy[$0].map(graph.name(of:))) }
                if let (data, readIn) = shared.min(by: { ($0.1 == nil ? 0 : 1, $0.0) < ($1.1 == nil ? 0 : 1, $1.0) }) {
                    sharedData.append(SharedData(entry: entry, writer: writer, data: data, readIn: readIn))
                    break
                }
            }
        }
    }

    /// For each function of the record, its nodes in `graph` (same name and unit), from one pass over the graph.
    func graphNodes(_ graph: CallGraph) -> [Int: [Int]] {
        var wanted: [FunctionRef: Int] = [:]
        for (index, function) in functions.enumerated() { wanted[function.ref] = index }
        var nodes: [Int: [Int]] = [:]
        for node in 0..<graph.nodeCount {
            if let index = wanted[graph.function(node)] { nodes[index, default: []].append(node) }
        }
        return nodes
    }

    /// The shared data recorded for a thread function of this name, if the record compared it.
    public func sharedData(forThreadFunction name: String) -> SharedData? {
        let indices = Set(self.indices(named: name))
        return sharedData.first { indices.contains($0.entry) }
    }

    /// The compilation unit all targets share (a `unit` record), else nil.
    public var targetUnit: String? {
        let units = Set(targets.map(\.unit))
        return units.count == 1 ? units.first : nil
    }

    /// The call path from `functions[index]` to a patched function, both included.
    public func path(from index: Int) -> [Function] {
        var path = [functions[index]]
        var current = index
        // A well-formed value has acyclic next links; the bound keeps a corrupt one from looping.
        while let next = functions[current].next, path.count <= functions.count {
            path.append(functions[next])
            current = next
        }
        return path
    }

    /// One shortest path from each statically found kthread entry function to a
    /// patched function: what `build` warns about.
    public var kthreadEntryPaths: [[Function]] { kthreadEntries.map { path(from: $0) } }

    /// Indices of the functions named `name` (a clone suffix such as `.isra.0` is ignored).
    public func indices(named name: String) -> [Int] {
        let base = FunctionRef.baseName(name)
        return functions.indices.filter { functions[$0].name == base }
    }

    /// The shortest path from any function named `name` to a patched one, or nil when none reaches one.
    /// `inUnit`: only from a function defined in that compilation unit.
    public func shortestPath(fromFunctionNamed name: String, inUnit unit: String? = nil) -> [Function]? {
        indices(named: name).filter { unit == nil || functions[$0].unit == unit }.map { path(from: $0) }.min { $0.count < $1.count }
    }

    /// Whether a function of this name is one of the patched ones.
    public func isTarget(named name: String) -> Bool {
        let base = FunctionRef.baseName(name)
        return targets.contains { $0.name == base }
    }
}

extension Array where Element == KthreadReachability.Function {
    /// The path as a reader follows the source: each function, then the inlined bodies its frame makes the next
    /// call from (`via`, unit not recorded).
    public var callPath: [FunctionRef] {
        flatMap { function in [function.ref] + function.via.map { FunctionRef(name: $0, unit: "") } }
    }
}
