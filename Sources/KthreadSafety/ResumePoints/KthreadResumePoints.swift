/// For a kthread's thread function: from each point where it can be asleep
/// (the return address of each of its calls, as /proc/PID/stack shows it),
/// which of its calls and inlined bodies can still run. A kthread asleep in its
/// loop never runs its prologue again: what only the prologue calls cannot
/// reach the loop's state.
public struct KthreadResumePoints: Equatable, Codable, Sendable {
    public var function: String
    /// Offset from the function's entry -> the hops (callee or inlined function names) reachable from there.
    public var points: [UInt32: Set<String>]

    public init(function: String, points: [UInt32: Set<String>]) {
        self.function = function
        self.points = points
    }

    /// The points of `layout`'s function under `flow`. A call whose flow cannot be
    /// followed from its return (an indirect jump on the way) has no point: there
    /// the whole function counts.
    public init(layout: FunctionLayout, flow: ControlFlow) {
        function = layout.name
        // A call site's return address names the call instruction that ends there.
        var callEndingAt: [UInt64: UInt64] = [:]
        for instruction in flow.instructions where instruction.isCall { callEndingAt[instruction.end] = instruction.address }
        // The instructions of each inlined body, found once.
        let bodies = layout.hops.map { hop in
            flow.instructions.filter { instruction in hop.ranges.contains { $0.contains(instruction.address) } }.map(\.address)
        }
        var points: [UInt32: Set<String>] = [:]
        for call in flow.instructions where call.isCall && call.end >= layout.entry {
            guard let reached = flow.reachable(from: call.end) else { continue }
            var hops: Set<String> = []
            for (hop, body) in zip(layout.hops, bodies) {
                if let returnAddress = hop.returnAddress {
                    // A call the flow does not show (no such instruction) is kept: cautious.
                    guard let address = callEndingAt[returnAddress] else { hops.insert(hop.name); continue }
                    if reached.contains(address) { hops.insert(hop.name) }
                } else if body.isEmpty || body.contains(where: reached.contains) {
                    // An inlined body with no code of its own left is kept too.
                    hops.insert(hop.name)
                }
            }
            points[UInt32(call.end - layout.entry)] = hops
        }
        self.points = points
    }
}
