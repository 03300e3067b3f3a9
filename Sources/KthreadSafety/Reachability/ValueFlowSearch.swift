import PatchModel

/// Where the values of the replaced functions go: from each target up through
/// the frames that run its calls, only through the calls that bring a value back
/// into that frame (`CallSiteFlow`), and channel by channel: a frame that only
/// hands the object on as its own parameter passes the value on through that
/// parameter, not through its result. A call made from code inlined into a
/// function is the function's own (its frame runs it, and its code was decoded):
/// the value goes there directly, not through the inlined function's other
/// instances. One shortest path toward a target per function.
struct ValueFlowSearch {
    /// Nodes in BFS order (targets first).
    private(set) var order: [Int] = []
    private(set) var next: [Int?] = []
    private(set) var kind: [CallKind?] = []
    /// For nodes reached through a call made from code inlined into them: the inlined bodies, outermost first,
    /// down to the one whose code makes the call to `next` (what a path shows between the frame and the callee).
    private(set) var via: [Int: [Int]] = [:]
    /// For each reached node: the channels through which it hands a target's value on to its callers.
    private(set) var channels: [Int: ValueChannels] = [:]
    /// `frame << 32 | callee`: a value of `callee` comes into `frame` through the calls its code makes to it, or the
    /// callee's body, inlined into `frame`, holds one.
    private var arrivals: Set<UInt64> = []
    /// For each frame a value comes into through its calls: the sites where it does (nil: an edge without
    /// decoded sites), with the channels the callee hands it back through.
    private var arrivalSites: [Int: [(site: Int?, from: ValueChannels)]] = [:]
    /// Frames whose code holds a value where it is not decoded: a target, or a body holding one inlined into them.
    private var inlinedHolders: Set<Int> = []

    /// `forced`: targets taken to hand values back through every channel whatever their prototype.
    init(graph: CallGraph, targets: [Int], forced: Set<Int> = []) {
        let callers = CallerIndex(graph: graph)
        var position: [Int: Int] = [:]
        var queue: [Int] = []
        var queued: Set<Int> = []
        // Nodes whose own code holds the value (the targets, and the functions their bodies are inlined into):
        // wherever that code is inlined, the value is in the frame that runs it (`inlinedHolders`).
        func reach(_ node: Int, with out: ValueChannels, from callee: Int, kind callKind: CallKind?, owner: Int? = nil) {
            if position[node] == nil {
                position[node] = order.count
                order.append(node); next.append(callee); kind.append(callKind)
                channels[node] = out
                if let owner, owner != node { via[node] = Self.inlinedChain(graph: graph, from: node, to: owner) }
            } else if let known = channels[node], !known.isSuperset(of: out) {
                channels[node] = known.union(out)
            } else {
                return
            }
            if queued.insert(node).inserted { queue.append(node) }
        }
        for target in targets where position[target] == nil {
            position[target] = order.count
            order.append(target); next.append(nil); kind.append(nil)
            channels[target] = forced.contains(target) ? .unknown : graph.signature(of: target).channels
            inlinedHolders.insert(target)
            queue.append(target); queued.insert(target)
        }
        var head = 0
        while head < queue.count {
            let callee = queue[head]
            head += 1
            queued.remove(callee)
            guard let from = channels[callee] else { continue }
            let edges = callers.edges(into: callee)
            if inlinedHolders.contains(callee) {
                // Its code, inlined into a caller, runs in the caller's frame: the caller holds the value (and hands it
                // on through any channel: where the inlined code leaves it is not decoded), or only holds it when the
                // value stops in that code.
                for edge in edges where graph.edgeKind[edge] == CallKind.inlined.rawValue {
                    let caller = Int(graph.edgeCaller[edge])
                    inlinedHolders.insert(caller)
                    arrivals.insert(UInt64(caller) << 32 | UInt64(callee))
                    reach(caller, with: from.isEmpty ? [] : graph.signature(of: caller).channels, from: callee, kind: .inlined)
                }
            }
            guard !from.isEmpty else { continue }
            for edge in edges where graph.edgeKind[edge] != CallKind.inlined.rawValue {
                for (site, frame, flow) in graph.siteFlows(ofEdge: edge) {
                    guard let out = flow.channels(into: graph.signature(of: frame), from: from) else { continue }
                    arrivalSites[frame, default: []].append((site, from))
                    arrivals.insert(UInt64(frame) << 32 | UInt64(callee))
                    reach(frame, with: out, from: callee, kind: CallKind(rawValue: graph.edgeKind[edge]), owner: Int(graph.edgeCaller[edge]))
                }
            }
        }
    }

    /// The shortest chain of inlined bodies from `frame` down to `owner` (outermost first, `owner` last); just
    /// `owner` when the graph shows none (it names the body either way).
    static func inlinedChain(graph: CallGraph, from frame: Int, to owner: Int) -> [Int] {
        var parent: [Int: Int] = [frame: frame]
        var level = [frame]
        for _ in 0..<16 where !level.isEmpty {
            var nextLevel: [Int] = []
            for node in level {
                for (callee, kind) in graph.callees(of: node) where kind == .inlined && parent[callee] == nil {
                    parent[callee] = node
                    if callee == owner {
                        var chain = [owner], current = node
                        while current != frame { chain.append(current); current = parent[current]! }
                        return chain.reversed()
                    }
                    nextLevel.append(callee)
                }
            }
            level = nextLevel
        }
        return [owner]
    }

    /// Where `frame`'s code stores, outside its stack frame, what it keeps of the values that come into it
    /// (instruction addresses; nil when not all are known: a target, code inlined into it holds a value, a
    /// value kept in memory, or code not followed to its end). Empty when no value comes in.
    func keptValueStores(of frame: Int, graph: CallGraph) -> [UInt64]? {
        if inlinedHolders.contains(frame) { return nil }
        var all: [UInt64] = []
        for (site, from) in arrivalSites[frame] ?? [] {
            guard let site, let stores = graph.keptValueStores(ofSite: site, through: from) else { return nil }
            all += stores
        }
        return all
    }

    /// Whether a value of `callee` comes into `frame` through the calls its code makes to it (or the callee's body,
    /// inlined into it, holds one).
    func comesIn(to frame: Int, from callee: Int) -> Bool {
        arrivals.contains(UInt64(frame) << 32 | UInt64(callee))
    }
}

/// The edges into each node, as a compressed sparse row built from the graph's flat edge arrays.
struct CallerIndex {
    private let first: [Int32]
    private let edgeList: [Int32]

    init(graph: CallGraph) {
        var first = [Int32](repeating: 0, count: graph.nodeCount + 1)
        for callee in graph.edgeCallee { first[Int(callee) + 1] += 1 }
        for i in 0..<graph.nodeCount { first[i + 1] += first[i] }
        var fill = first
        var edgeList = [Int32](repeating: 0, count: graph.edgeCount)
        for edge in 0..<graph.edgeCount {
            let callee = Int(graph.edgeCallee[edge])
            edgeList[Int(fill[callee])] = Int32(edge)
            fill[callee] += 1
        }
        self.first = first
        self.edgeList = edgeList
    }

    func edges(into node: Int) -> [Int] {
        (Int(first[node])..<Int(first[node + 1])).map { Int(edgeList[$0]) }
    }
}
