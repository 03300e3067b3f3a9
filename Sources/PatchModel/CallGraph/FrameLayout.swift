/// Where a function keeps addresses of its own stack frame, followed once over its whole code from its entry:
/// at each instruction, the registers holding frame addresses and how far %rsp is below its value at entry.
/// A call site's scan (`CallSiteFlowReader.scan`) starts from the state at the call's return address, so an
/// object in the frame (`struct oom_control oc; out_of_memory(&oc);`) is found again wherever the code reaches it.
struct FrameLayout {
    /// A frame address is stored to memory somewhere (or the code could not be followed): the frame can then be
    /// reached through registers loaded from memory, and nothing here can be relied on.
    var escapes: Bool
    /// At each instruction reached: the frame registers (offsets from %rsp at entry) and %rsp relative to its
    /// value at entry (nil: moved by an amount not known).
    var states: [UInt64: (frame: FrameRegisters, depth: Int64?)]

    static let unknown = FrameLayout(escapes: true, states: [:])

    /// At a call's return address: the frame registers with offsets from %rsp there, and %rsp there relative
    /// to its value at entry (the return address sits `-depth` bytes above it). Nil when not known.
    func atReturn(_ address: UInt64) -> (frame: FrameRegisters, depth: Int64)? {
        guard !escapes, let state = states[address], let depth = state.depth else { return nil }
        return (state.frame.rebased(by: depth), depth)
    }
}

extension CallSiteFlowReader {
    static let maxLayoutSteps = 40_000

    /// The layout of the function entered at `entry`, with code in `ranges`; `calls`: what each call passes, by
    /// its return address (a call without an entry passes all six argument registers).
    func frameLayout(entry: UInt64, ranges: [(UInt64, UInt64)], calls: [UInt64: CallArguments]) -> FrameLayout {
        if let known = frameLayouts[entry] { return known }
        let layout = followFrame(entry: entry, ranges: ranges, calls: calls)
        frameLayouts[entry] = layout
        return layout
    }

    private func followFrame(entry: UInt64, ranges: [(UInt64, UInt64)], calls: [UInt64: CallArguments]) -> FrameLayout {
        guard let (section, code, sectionStart) = file.code(at: entry) else { return .unknown }
        let relocated = file.unlinkedRelocations(of: section)
        func inCaller(_ address: UInt64) -> Bool { ranges.contains { address >= $0.0 && address < $0.1 } }
        var states: [UInt64: (frame: FrameRegisters, depth: Int64?)] = [:]
        var work: [(UInt64, FrameRegisters, Int64?)] = [(entry, FrameRegisters(), 0)]
        var steps = Self.maxLayoutSteps
        while let (start, initialFrame, initialDepth) = work.popLast() {
            var address = start
            var frame = initialFrame
            var depth = initialDepth
            while true {
                if let before = states[address] {
                    if before.frame.contains(frame), before.depth == depth || before.depth == nil { break }
                    frame.formUnion(before.frame)
                    if before.depth != depth { depth = nil }
                }
                states[address] = (frame, depth)
                steps -= 1
                let local = address &- sectionStart
                guard steps > 0, inCaller(address), local < UInt64(code.count),
                      let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else { return .unknown }
                let next = address + UInt64(instruction.length)
                let relocatedTarget = Self.relocatedTarget(of: instruction, at: local, in: relocated)
                switch instruction.flow {
                case .call, .indirectCall:
                    frame.afterCall(arguments: calls[next] ?? .inlineAssembly)
                    if !inCaller(next) { break }
                    address = next; continue
                case .ret, .stop:
                    break
                case .indirectJump:
                    return .unknown
                case .jump(let target):
                    // Out of the function (a tail call, the return thunk) ends the path; a relocated jump to a
                    // section (a cold part, in an unlinked object) cannot be followed.
                    if let symbol = relocatedTarget {
                        if symbolThunk(symbol.symbol).isFunction { break }
                        return .unknown
                    }
                    if !inCaller(target) { break }
                    work.append((target, frame, depth))
                case .branch(let target):
                    if relocatedTarget != nil { return .unknown }
                    work.append((target, frame, depth))
                    address = next; continue
                case .next:
                    guard frame.step(instruction, depth: depth) else { return .unknown }
                    if instruction.stackDelta != nil || (instruction.writes | instruction.partialWrites) & X86Instruction.bit(X86Instruction.rsp) != 0 {
                        depth = instruction.stackDelta.flatMap { delta in depth.map { $0 + delta } }
                    }
                    if instruction.trap && !inCaller(next) { break }
                    address = next; continue
                }
                break
            }
        }
        return FrameLayout(escapes: false, states: states)
    }
}
