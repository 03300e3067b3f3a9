/// For a kthread's thread function: from each point where it can be asleep
/// (the return address of each of its calls, as /proc/PID/stack shows it),
/// which of its calls and inlined bodies can still run. A kthread asleep in its
/// loop never runs its prologue again: what only the prologue calls cannot
/// reach the loop's state.
public struct KthreadResumePoints: Equatable, Codable, Sendable {
    public var function: String
    /// Offset -> the hops (callee or inlined function names) reachable from there.
    /// In the hot part, the offset from the function's entry (`fn+off` in a stack);
    /// in its cold part, the offset from the cold part's start with `coldPart` set
    /// (`fn.cold+off`): `key(symbol:offset:)` makes the key from a stack frame.
    public var points: [UInt32: Set<String>]
    /// Hops that are only calls made inside inlined bodies: a record searched through the inlined edges reaches
    /// them through the body; the value flow, which goes from frame to frame, needs them.
    public var inlinedBodyCalls: Set<String> = []

    /// Marks a key as an offset in the function's cold part.
    public static let coldPart: UInt32 = 1 << 30

    /// The key of a stack frame `symbol+offset` (`fn` or `fn.cold`); nil when the offset cannot be one.
    public static func key(symbol: String, offset: UInt64) -> UInt32? {
        guard offset < UInt64(coldPart) else { return nil }
        return symbol.hasSuffix(".cold") ? UInt32(offset) | coldPart : UInt32(offset)
    }

    public init(function: String, points: [UInt32: Set<String>], inlinedBodyCalls: Set<String> = []) {
        self.function = function
        self.points = points
        self.inlinedBodyCalls = inlinedBodyCalls
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
        // The part holding the entry is `fn`; GCC moves unlikely code into one other part, `fn.cold`.
        let hot = layout.ranges.first { $0.contains(layout.entry) }
        let others = layout.ranges.filter { $0 != hot }
        let cold = others.count == 1 ? others[0] : nil
        var points: [UInt32: Set<String>] = [:]
        for call in flow.instructions where call.isCall {
            let key: UInt32?
            if let hot, hot.contains(call.address), call.end >= layout.entry {
                key = Self.key(symbol: layout.name, offset: call.end - layout.entry)
            } else if let cold, cold.contains(call.address) {
                key = Self.key(symbol: layout.name + ".cold", offset: call.end - cold.lowerBound)
            } else {
                key = nil // a part that is neither (several cold parts): no point, the whole function counts there
            }
            guard let key else { continue }
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
            points[key] = hops
        }
        self.points = points
        inlinedBodyCalls = Set(layout.hops.filter(\.inInlinedBody).map(\.name)).subtracting(layout.hops.filter { !$0.inInlinedBody }.map(\.name))
    }
}
