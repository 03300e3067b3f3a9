import PatchModel

/// Breadth-first search over a call graph's reversed edges: every function from
/// which one of the targets is reachable, each with the next hop of one
/// shortest call path toward a target. `follows` says which edges the search
/// takes.
struct ReverseReachability {
    /// Nodes in BFS order (targets first, then by distance).
    let order: [Int]
    /// For each node in `order`: the callee one step closer to a target (nil for a target).
    let next: [Int?]
    let kind: [CallKind?]

    /// `follows`: whether the search goes from a callee to its caller through an edge (by index).
    init(graph: CallGraph, targets: [Int], follows: (Int) -> Bool = { _ in true }) {
        let nodeCount = graph.nodeCount
        let callers = CallerIndex(graph: graph)
        var position = [Int32](repeating: -1, count: nodeCount)
        var order: [Int] = []
        var next: [Int?] = []
        var kind: [CallKind?] = []
        for target in targets where position[target] < 0 {
            position[target] = Int32(order.count)
            order.append(target); next.append(nil); kind.append(nil)
        }
        var head = 0
        while head < order.count {
            let callee = order[head]
            head += 1
            for edge in callers.edges(into: callee) {
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
