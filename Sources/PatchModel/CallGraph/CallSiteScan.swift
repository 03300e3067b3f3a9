/// The scan behind `CallSiteFlowReader.flow`: the caller's code followed from a call's return address, with
/// each value the callee hands back tracked through registers, flags and the bytes of the caller's frame.
extension CallSiteFlowReader {
    static let callerSavedLanes = Held.everyOrigin(X86Instruction.callerSaved)
    /// Stack arguments of a call sit in its first 64 bytes above %rsp (up to 14 arguments).
    static let stackArgumentBytes: Int64 = 64
    /// Bytes taken to be accessed by a memory operand whose width the decoder does not give.
    static let unknownWidth = 16
    /// A repeated string instruction's bytes are followed up to this many (a frame is smaller).
    static let maxRepeatedBytes: Int64 = 4096

    /// Where the values followed are at the call's return address.
    struct ScanStart {
        /// Origin o's registers: 0 the result, 1...6 the arguments held in callee-saved registers.
        var origins: [X86Instruction.Registers]
        /// Objects of the caller's frame the call was given, with the origin they stand for: their bytes, as offsets
        /// from %rsp at the return address.
        var objects: [(origin: Int, bytes: Range<Int64>)]
        /// The registers holding frame addresses there; nil when the frame cannot be followed (a frame address is
        /// stored to memory somewhere): then any slot written counts as carried on.
        var frame: FrameRegisters?
        /// The callee returns a `bool` (in %al).
        var resultIsBool = false
    }

    /// What the scan found, one bit per origin.
    struct ScanResult {
        /// The code reads the origin's value at all.
        var read: UInt8
        /// A data path takes it (or data loaded through it) to the caller's result, a store outside its own stack
        /// frame, another call's arguments, or a system instruction. Branching on it is not a data path.
        var carried: UInt8
        /// Of those, the ones carried other than to the caller's result.
        var elsewhere: UInt8
        /// The instructions storing a value outside the frame (nil when the scan gave up).
        var stores: [UInt64]?

        static func everything(_ origins: Int) -> ScanResult {
            let all: UInt8 = (1 << UInt8(origins)) - 1
            return ScanResult(read: all, carried: all, elsewhere: all, stores: nil)
        }
    }

    /// Follows the caller's code from `returnPC`.
    func scan(from returnPC: UInt64, start: ScanStart, caller: CallerFunction) -> ScanResult {
        let everything = ScanResult.everything(start.origins.count)
        guard let (section, code, sectionStart) = file.code(at: returnPC) else { return everything }
        let relocated = file.unlinkedRelocations(of: section)
        let ranges = caller.ranges
        func inCaller(_ address: UInt64) -> Bool { ranges.contains { address >= $0.0 && address < $0.1 } }
        let followsFrame = start.frame != nil

        var read: UInt8 = 0
        var carried: UInt8 = 0
        var elsewhere: UInt8 = 0
        var stores: Set<UInt64> = []
        let followsBool = start.resultIsBool && start.origins[0] != 0 && followsFrame
        var atReturn = Taint(held: Held(start.origins), frame: start.frame ?? FrameRegisters())
        if followsBool { atReturn.bool = .inResult }
        for object in start.objects { atReturn.merge(UInt8(1) << UInt8(object.origin), into: object.bytes) }
        var work: [(UInt64, Taint)] = [(returnPC, atReturn)]
        var seen: [UInt64: Taint] = [:]
        // About four visits per instruction of the caller (a byte per visit), however long its loops.
        var budget = min(max(Self.maxInstructions, Int(ranges.reduce(0) { $0 + ($1.1 - $1.0) })), Self.maxLayoutSteps / 2)
        let argumentBits = X86Instruction.argumentRegisters.reduce(X86Instruction.Registers(0)) { $0 | X86Instruction.bit($1) }
        let returnBits = X86Instruction.bit(X86Instruction.rax) | X86Instruction.bit(X86Instruction.rdx)
        func carry(_ origins: UInt8) { read |= origins; carried |= origins; elsewhere |= origins }
        func returned(_ origins: UInt8) { read |= origins; carried |= origins }
        /// Leaving for another function (a call or a tail call) that reads `registers` and takes `arguments`: what
        /// it receives is carried on, and so is what it can read of the frame through an address it is given.
        func leave(reading registers: X86Instruction.Registers, arguments: CallArguments, _ state: Taint) {
            carry(state.held.holders(of: registers))
            if arguments.stackArguments, let depth = state.depth { carry(state.bytes(depth ..< depth + Self.stackArgumentBytes)) }
            guard followsFrame else { return }
            for (register, range) in state.frame.passed(in: registers & argumentBits) {
                let index = X86Instruction.argumentRegisters.firstIndex(of: register) ?? 0
                switch (range, arguments.pointeeSize(ofArgument: index)) {
                case let (range?, size?): carry(state.bytes(range.lowerBound ..< range.upperBound - 1 + Int64(size)))
                case let (range?, nil): carry(state.slots(from: range.lowerBound))
                case (nil, _): carry(state.allSlots)
                }
            }
        }
        /// Returning: the result registers are the caller's result; slots at or above the return address are its
        /// caller's memory.
        func returns(_ state: Taint) {
            if caller.returnsValue { returned(state.held.holders(of: returnBits)) }
            if let depth = state.depth { carry(state.slots(from: depth)) }
        }
        while let (first, initial) = work.popLast() {
            var address = first
            var state = initial
            // Followed to the end even once everything is carried on: the stores are wanted too.
            while true {
                // A point seen with at least this taint adds nothing new.
                if let before = seen[address] {
                    if before.contains(state) { break }
                    guard before.depth == state.depth else { return everything }
                    state.formUnion(before)
                }
                seen[address] = state
                budget -= 1
                let local = address &- sectionStart
                guard budget > 0, inCaller(address), local < UInt64(code.count),
                      let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else { return everything }
                let next = address + UInt64(instruction.length)
                // A relocated displacement (an unlinked object's call or jump to another section) hides the target.
                let relocatedTarget = Self.relocatedTarget(of: instruction, at: local, in: relocated)
                switch instruction.flow {
                case .call(let target):
                    let through = (relocatedTarget.map { symbolThunk($0.symbol).thunk } ?? thunk(at: target))?.register
                    let arguments = caller.calls[next] ?? .inlineAssembly
                    leave(reading: arguments.registerMask | (through.map(X86Instruction.bit) ?? 0), arguments: arguments, state)
                    // The last instruction of the function's code: a call that does not return (`__stack_chk_fail`).
                    if !inCaller(next) { break }
                    state.afterCall(arguments: arguments)
                    // The call followed, made again (a loop): what it hands back is followed again.
                    if next == returnPC {
                        for (origin, registers) in start.origins.enumerated() { state.held.add(1 << UInt8(origin), to: registers) }
                        for object in start.objects { state.merge(UInt8(1) << UInt8(object.origin), into: object.bytes) }
                        if followsBool { state.bool = .inResult }
                    }
                    address = next; continue
                case .indirectCall:
                    let arguments = caller.calls[next] ?? .inlineAssembly
                    leave(reading: arguments.registerMask | instruction.reads, arguments: arguments, state)
                    state.afterCall(arguments: arguments)
                    address = next; continue
                case .ret:
                    returns(state)
                case .stop:
                    break
                case .indirectJump:
                    return everything
                case .jump(let target):
                    // Out of the function: a tail call, which receives the argument registers (and the register a
                    // retpoline thunk jumps through), or `jmp __x86_return_thunk`, a return.
                    if let symbol = relocatedTarget {
                        // To another function's start: a tail call; to a section (a cold part): not followed.
                        let callee = symbolThunk(symbol.symbol)
                        guard callee.isFunction else { return everything }
                        if callee.thunk == .returns { returns(state); break }
                        leave(reading: argumentBits | (callee.thunk?.register.map(X86Instruction.bit) ?? 0), arguments: .unknown, state)
                        break
                    }
                    if inCaller(target) { work.append((target, state)); break }
                    let callee = thunk(at: target)
                    if callee == .returns { returns(state); break }
                    leave(reading: argumentBits | (callee?.register.map(X86Instruction.bit) ?? 0), arguments: .unknown, state)
                case .branch(let target):
                    if relocatedTarget != nil { return everything }
                    read |= state.held.holders(of: instruction.reads) | state.flags
                    if let known = state.bool, known.decides(instruction) { state.decideBool(known) }
                    work.append((target, state))
                    address = next; continue
                case .next:
                    let effect = step(instruction, &state, followsFrame: followsFrame)
                    read |= effect.read
                    carry(effect.carried)
                    if effect.storedOut { stores.insert(address) }
                    // A ud2 ending the function's code is a BUG(): nothing runs after it.
                    if instruction.trap && !inCaller(next) { break }
                    address = next; continue
                }
                break
            }
            if budget <= 0 { return everything }
        }
        return ScanResult(read: read, carried: carried, elsewhere: elsewhere, stores: stores.sorted())
    }

    /// One instruction that falls through: where the origins it reads go.
    /// `storedOut`: it stores a value outside the caller's frame.
    private func step(_ instruction: X86Instruction, _ state: inout Taint, followsFrame: Bool) -> (read: UInt8, carried: UInt8, storedOut: Bool) {
        var carried: UInt8 = 0
        var storedOut = false
        func carry(_ origins: UInt8) { carried |= origins }
        let rsp = X86Instruction.rsp
        let memory = instruction.memory
        let addressRegisters = (memory?.base.map(X86Instruction.bit) ?? 0) | (memory?.index.map(X86Instruction.bit) ?? 0)
        let access = frameAccess(instruction, state, followsFrame: followsFrame)
        // What a load brings: the frame bytes' origins, or (through an address computed from an origin) data of that object.
        var loaded: UInt8 = 0
        if let memory, memory.isLoad {
            switch access.touches {
            case .bytes(let bytes), .within(let bytes): loaded = state.bytes(bytes)
            case .anywhere: loaded = state.allSlots
            case .outside: break
            }
            loaded |= state.held.holders(of: addressRegisters)
        }
        // pop: the slot at the top of the stack.
        if instruction.pops, let depth = state.depth { loaded |= state.bytes(depth ..< depth + 8) }
        let flagsRead = instruction.readsFlags ? state.flags : 0
        let sources = state.held.holders(of: instruction.reads) | loaded | flagsRead
        if instruction.system { carry(sources) }
        if let memory, memory.isStore {
            let data = state.held.holders(of: instruction.dataReads) | (memory.isLoad ? loaded : 0) | flagsRead
            switch access.touches {
            case .bytes(let bytes) where followsFrame:
                // A store of known width replaces what the bytes held; one of unknown width may leave some.
                if access.exact && !memory.isLoad { state.replace(bytes, with: data) } else { state.merge(data, into: bytes) }
            case .within(let bytes) where followsFrame && bytes.count <= Self.maxRepeatedBytes:
                // Somewhere in these bytes: they may all hold it.
                state.merge(data, into: bytes)
            case .bytes, .within, .anywhere:
                // A slot the frame's other addresses may reach, or one not named: carried on.
                carry(data)
            case .outside:
                if data != 0 { carry(data); storedOut = true }
            }
        }
        // movs: what it loads goes to wherever %rdi points.
        if instruction.copies, loaded != 0 { carry(loaded); storedOut = true }
        // push: the pushed value goes into the new top slot.
        if let delta = instruction.stackDelta, delta < 0, let depth = state.depth {
            let pushed = state.held.holders(of: instruction.reads & ~X86Instruction.bit(rsp)) | loaded | flagsRead
            if followsFrame { state.replace(depth + delta ..< depth, with: pushed) } else { carry(pushed) }
        }
        // Registers written: a full write holds exactly what the sources held; a partial one adds it.
        let written = (instruction.writes | instruction.partialWrites) & ~X86Instruction.bit(rsp)
        state.held.bits &= ~Held.everyOrigin(instruction.writes)
        state.held.add(sources, to: written)
        state.bool?.step(instruction, access: access.touches)
        // (The layout followed this code from the function's entry and found no frame address escaping.)
        _ = state.frame.step(instruction, depth: state.depth)
        if (instruction.writes | instruction.partialWrites) & X86Instruction.bit(X86Instruction.rcx) != 0 {
            state.count = instruction.constant.flatMap { $0.register == X86Instruction.rcx ? $0.value : nil }
        }
        switch instruction.flags {
        case .none: break
        case .set: state.flags = sources
        case .merge: state.flags |= sources
        }
        // %rsp moved: by a known amount, or not (then a slot can no longer be named, and what they held is carried on).
        if instruction.stackDelta != nil || (instruction.writes | instruction.partialWrites) & X86Instruction.bit(rsp) != 0 {
            if let delta = instruction.stackDelta, let depth = state.depth {
                state.depth = depth + delta
            } else if state.depth != nil || !state.slots.isEmpty {
                carry(state.allSlots)
                state.slots = [:]
                state.depth = nil
            }
        }
        return (sources | carried, carried, storedOut)
    }

    /// What an instruction's memory operand touches of the frame, and whether the bytes are known exactly (a
    /// store of them replaces what they held). Frame not followed: only %rsp-based operands, while %rsp is known.
    private func frameAccess(_ instruction: X86Instruction, _ state: Taint, followsFrame: Bool)
        -> (touches: FrameRegisters.Access, exact: Bool) {
        guard let memory = instruction.memory else { return (.outside, false) }
        func touches(width: Int) -> FrameRegisters.Access {
            if followsFrame { return state.frame.access(memory, depth: state.depth, width: width) }
            guard memory.base == X86Instruction.rsp, memory.index == nil, memory.segment == nil, let depth = state.depth else { return .outside }
            return .bytes(depth + memory.displacement ..< depth + memory.displacement + Int64(width))
        }
        guard instruction.repeats else { return (touches(width: memory.width ?? Self.unknownWidth), memory.width != nil) }
        // rep: %rcx elements, when it holds a known count.
        guard let count = state.count, let element = memory.width, count >= 0, count <= Self.maxRepeatedBytes / Int64(element) else {
            return (touches(width: 1) == .outside ? .outside : .anywhere, false)
        }
        return (touches(width: Int(count) * element), true)
    }
}
