import PatchModel

/// Breadth-first search over a call graph's reversed edges: every function from
/// which one of the targets is reachable, each with the next hop of one
/// shortest call path toward a target. `follows` says which edges the search
/// takes (a value-flow search takes only the calls through which a value comes
/// back into the caller: `CallGraph.edgeCarries`).
struct ReverseReachability {
    /// Nodes in BFS order (targets first, then by distance).
    let order: [Int]
    /// For each node in `order`: the callee one step closer to a target (nil for a target).
    let next: [Int?]
    let kind: [CallKind?]

    /// `follows`: whether the search goes from a callee to its caller through an edge (by index).
    init(graph: CallGraph, targets: [Int], follows: (Int) -> Bool = { _ in true }) {
        // Callers of each callee, as a compressed sparse row built from the flat edge arrays.
        let nodeCount = graph.nodeCount
        var firstCaller = [Int32](repeating: 0, count: nodeCount + 1)
        for callee in graph.edgeCallee { firstCaller[Int(callee) + 1] += 1 }
        for i in 0..<nodeCount { firstCaller[i + 1] += firstCaller[i] }
        var fill = firstCaller
        var callers = [Int32](repeating: 0, count: graph.edgeCount)
        for edge in 0..<graph.edgeCount {
            let callee = Int(graph.edgeCallee[edge])
            callers[Int(fill[callee])] = Int32(edge)
            fill[callee] += 1
        }

        var position = [Int32](repeating: -1, count: nodeCount)
        var order: [Int] = []
        var next: [Int?] = []
        var kind: [CallKind?] = []
        for target in targets where position[target] < 0 {
            position[target] = Int32(order.count)
            order.append(target); next.append(nil); kind.append(nil)
        }
        let targetCount = order.count
        var head = 0
        while head < order.count {
            let callee = order[head]
            head += 1
            for slot in Int(firstCaller[callee])..<Int(firstCaller[callee + 1]) {
                let edge = Int(callers[slot])
                let caller = Int(graph.edgeCaller[edge])
                guard position[caller] < 0, follows(edge) else { continue }
                position[caller] = Int32(order.count)
                order.append(caller)
                next.append(callee)
                kind.append(CallKind(rawValue: graph.edgeKind[edge]))
            }
        }
        self.order = order
        self.next = next
        self.kind = kind
    }
}
