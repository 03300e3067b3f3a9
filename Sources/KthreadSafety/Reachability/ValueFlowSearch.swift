import PatchModel

/// Where the values of the replaced functions go: from each target up through
/// its callers, only through the calls that bring a value back into the caller
/// (`CallSiteFlow`), and channel by channel: a caller that only hands the
/// object on as its own parameter passes the value on through that parameter,
/// not through its result. One shortest path toward a target per function.
struct ValueFlowSearch {
    /// Nodes in BFS order (targets first).
    private(set) var order: [Int] = []
    private(set) var next: [Int?] = []
    private(set) var kind: [CallKind?] = []
    /// For each reached node: the channels through which it hands a target's value on to its callers.
    private(set) var channels: [Int: ValueChannels] = [:]

    /// `forced`: targets taken to hand values back through every channel whatever their prototype.
    init(graph: CallGraph, targets: [Int], forced: Set<Int> = []) {
        let callers = CallerIndex(graph: graph)
        var position: [Int: Int] = [:]
        var queue: [Int] = []
        var queued: Set<Int> = []
        for target in targets where position[target] == nil {
            position[target] = order.count
            order.append(target); next.append(nil); kind.append(nil)
            channels[target] = forced.contains(target) ? .unknown : graph.signature(of: target).channels
            queue.append(target); queued.insert(target)
        }
        var head = 0
        while head < queue.count {
            let callee = queue[head]
            head += 1
            queued.remove(callee)
            guard let from = channels[callee] else { continue }
            if from.isEmpty {
                // The value stops in the callee's code. Where that code is inlined it runs in the caller's frame:
                // the value comes into the caller too (a thread function reading it there keeps it), and stops there.
                for edge in callers.edges(into: callee) where graph.edgeKind[edge] == CallKind.inlined.rawValue {
                    let caller = Int(graph.edgeCaller[edge])
                    guard position[caller] == nil else { continue }
                    position[caller] = order.count
                    order.append(caller); next.append(callee); kind.append(.inlined)
                    channels[caller] = []
                    if queued.insert(caller).inserted { queue.append(caller) }
                }
                continue
            }
            for edge in callers.edges(into: callee) {
                let caller = Int(graph.edgeCaller[edge])
                // A caller already handing on every channel its prototype has gains nothing: its call sites are not decoded.
                if let known = channels[caller], known.isSuperset(of: graph.signature(of: caller).channels) { continue }
                guard let out = graph.channels(throughEdge: edge, from: from) else { continue }
                if position[caller] == nil {
                    position[caller] = order.count
                    order.append(caller); next.append(callee); kind.append(CallKind(rawValue: graph.edgeKind[edge]))
                    channels[caller] = out
                } else if let known = channels[caller], !known.isSuperset(of: out) {
                    channels[caller] = known.union(out)
                } else {
                    continue
                }
                if queued.insert(caller).inserted { queue.append(caller) }
            }
        }
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
