/// Where a callee's `bool` result is held unchanged after the call (in which registers and frame bytes), so that a
/// branch on it is seen to decide it: on each side of `test %al,%al; je` its value is a constant, and a later
/// use of it (GCC reuses the 1 it now knows) carries nothing of the callee's. Only plain copies are followed
/// (`mov`, `movzx`); anything else written over a copy ends it.
struct KnownBool: Equatable {
    /// Registers whose low byte is the bool.
    var low: X86Instruction.Registers
    /// Registers whose whole value is the bool (zero-extended).
    var wide: X86Instruction.Registers = 0
    /// Frame bytes holding it: offset (from %rsp at the call's return) -> bytes whose value it is.
    var slots: [Int64: Int] = [:]
    /// The flags were last set by a zero test of a copy.
    var tested = false

    /// Just after the call: in %al.
    static let inResult = KnownBool(low: X86Instruction.bit(X86Instruction.rax))

    /// Whether `width` bytes of register `register` are a copy.
    private func holds(register: Int, width: Int) -> Bool {
        let bit = X86Instruction.bit(register)
        return wide & bit != 0 || (width == 1 && low & bit != 0)
    }

    /// Whether `width` bytes at `offset` are a copy.
    private func holds(slot offset: Int64, width: Int) -> Bool { slots[offset].map { width <= $0 } ?? false }

    /// After one instruction that falls through; `access`: the frame bytes its memory operand touches.
    mutating func step(_ instruction: X86Instruction, access: FrameRegisters.Access) {
        if instruction.flags != .none {
            tested = instruction.testsZero.map { width in
                if let register = instruction.memory == nil ? testedRegister(instruction) : nil { return holds(register: register, width: width) }
                if case .bytes(let bytes) = access { return holds(slot: bytes.lowerBound, width: width) }
                return false
            } ?? false
        }
        // A copy into a register: from a register holding it, or loaded from a frame copy.
        var copied: (low: Bool, wide: Bool) = (false, false)
        if instruction.moves, instruction.memory?.isStore != true {
            if let memory = instruction.memory, memory.isLoad, case .bytes(let bytes) = access {
                let width = memory.width ?? 8
                copied = (holds(slot: bytes.lowerBound, width: 1), holds(slot: bytes.lowerBound, width: width))
            } else if instruction.memory == nil, let source = sourceRegister(instruction) {
                let bit = X86Instruction.bit(source)
                copied = (low & bit != 0, wide & bit != 0)
            }
        }
        let written = instruction.writes | instruction.partialWrites
        let full = instruction.writes
        low &= ~written
        wide &= ~written
        if copied.low { low |= written }
        if copied.wide { wide |= full }
        // A store: nothing over the bytes it may write is a copy any more; a copy where it stores one (known bytes).
        guard let memory = instruction.memory, memory.isStore else { return }
        switch access {
        case .bytes(let bytes), .within(let bytes):
            slots = slots.filter { !bytes.overlaps($0.key ..< $0.key + Int64($0.value)) }
        case .anywhere: slots = [:]
        case .outside: break
        }
        if case .bytes(let bytes) = access, instruction.moves, let stored = memory.storedRegister, let width = memory.width {
            if holds(register: stored, width: width) { slots[bytes.lowerBound] = width } else if holds(register: stored, width: 1) { slots[bytes.lowerBound] = 1 }
        }
    }

    /// The register a `test %r,%r` or `cmp $0, %r` reads.
    private func testedRegister(_ instruction: X86Instruction) -> Int? {
        let read = (0..<16).filter { instruction.reads & X86Instruction.bit($0) != 0 }
        return read.count == 1 ? read[0] : nil
    }

    /// The register a register-to-register `mov`/`movzx` copies.
    private func sourceRegister(_ instruction: X86Instruction) -> Int? {
        if let move = instruction.registerMove { return move.from }
        let read = (0..<16).filter { instruction.reads & ~instruction.partialWrites & X86Instruction.bit($0) != 0 }
        return read.count == 1 ? read[0] : nil
    }

    /// After a call: the caller-saved registers are the callee's, and so are the frame bytes when it was given a
    /// frame address.
    mutating func afterCall(givenFrame: Bool) {
        low &= ~X86Instruction.callerSaved
        wide &= ~X86Instruction.callerSaved
        tested = false
        if givenFrame { slots = [:] }
    }

    /// A `je`/`jne` on a zero test of a copy decides the bool on both sides.
    func decides(_ instruction: X86Instruction) -> Bool { tested && (instruction.condition == 4 || instruction.condition == 5) }

    /// Copies hold nothing the search follows once the bool is decided.
    var registers: X86Instruction.Registers { low | wide }

    /// At a join: a location is a copy when each side either holds a copy there or nothing of the result, and one
    /// side holds the result there; the flags are a test of a copy when each side's are or hold nothing of it.
    func merged(with other: KnownBool, mine: (registers: X86Instruction.Registers, bytes: Set<Int64>, flags: Bool),
                theirs: (registers: X86Instruction.Registers, bytes: Set<Int64>, flags: Bool)) -> KnownBool {
        func registers(_ a: X86Instruction.Registers, _ b: X86Instruction.Registers) -> X86Instruction.Registers {
            (a | ~mine.registers) & (b | ~theirs.registers) & (mine.registers | theirs.registers)
        }
        var result = KnownBool(low: registers(low, other.low), wide: registers(wide, other.wide))
        func clean(_ offset: Int64, _ width: Int, _ taint: Set<Int64>) -> Bool { (offset ..< offset + Int64(width)).allSatisfy { !taint.contains($0) } }
        for (offset, width) in slots where other.slots[offset] == width || clean(offset, width, theirs.bytes) { result.slots[offset] = width }
        for (offset, width) in other.slots where result.slots[offset] == nil && clean(offset, width, mine.bytes) { result.slots[offset] = width }
        let anywhere = { (taint: (registers: X86Instruction.Registers, bytes: Set<Int64>, flags: Bool)) in
            taint.registers != 0 || !taint.bytes.isEmpty || taint.flags
        }
        result.tested = (tested || !anywhere(mine)) && (other.tested || !anywhere(theirs)) && (tested || other.tested)
        return result
    }
}
