/// The state `CallSiteFlowReader`'s scan carries through a caller's code after a call:
/// where each origin's value (a callee's result, an object it wrote) is held.
extension CallSiteFlowReader {
    /// The registers holding each origin's value, packed: origin o's `X86Instruction.Registers` in bits 16o..16o+15.
    struct Held: Equatable {
        var bits: UInt128 = 0
        static let origins = 7

        init(_ origins: [X86Instruction.Registers]) {
            for (o, registers) in origins.enumerated() { bits |= UInt128(registers) << UInt128(16 * o) }
        }

        /// The same registers in every origin's lane.
        static func everyOrigin(_ registers: X86Instruction.Registers) -> UInt128 {
            (0..<origins).reduce(UInt128(0)) { $0 | UInt128(registers) << UInt128(16 * $1) }
        }

        func registers(of origin: Int) -> X86Instruction.Registers { X86Instruction.Registers(truncatingIfNeeded: bits >> UInt128(16 * origin)) }

        /// Bit o set when origin o's value is in one of `registers`.
        func holders(of wanted: X86Instruction.Registers) -> UInt8 {
            guard wanted != 0 else { return 0 }
            var found: UInt8 = 0
            for o in 0..<Self.origins where registers(of: o) & wanted != 0 { found |= 1 << UInt8(o) }
            return found
        }

        /// Puts the origins `origins` into `registers` (on top of what they hold).
        mutating func add(_ origins: UInt8, to registers: X86Instruction.Registers) {
            guard origins != 0, registers != 0 else { return }
            for o in 0..<Self.origins where origins & (1 << UInt8(o)) != 0 { bits |= UInt128(registers) << UInt128(16 * o) }
        }

        func contains(_ other: Held) -> Bool { bits | other.bits == bits }
    }

    /// Where each origin's value (or data computed from it) is at one point of the caller's code: registers,
    /// the arithmetic flags, and bytes of the caller's own stack frame.
    struct Taint: Equatable {
        var held: Held
        /// Origins the flags were computed from.
        var flags: UInt8 = 0
        /// Bytes of the frame holding origins, by offset from %rsp at the call's return.
        var slots: [Int64: UInt8] = [:]
        /// %rsp relative to its value at the call's return; nil once it moved by an amount not known.
        var depth: Int64? = 0
        /// The registers holding frame addresses.
        var frame = FrameRegisters()
        /// The constant %rcx holds, when known (a `rep` count).
        var count: Int64?
        /// Where the callee's result is held unchanged, when it is a `bool` (nil otherwise).
        var bool: KnownBool?

        init(held: Held, frame: FrameRegisters = FrameRegisters()) {
            self.held = held
            self.frame = frame
        }

        /// Whether merging `other` in adds nothing.
        func contains(_ other: Taint) -> Bool {
            guard held.contains(other.held), flags | other.flags == flags, depth == other.depth, frame.contains(other.frame),
                  count == nil || count == other.count,
                  other.slots.allSatisfy({ slot in (slots[slot.key] ?? 0) | slot.value == slots[slot.key] ?? 0 }) else { return false }
            guard bool != nil else { return true }
            var merged = self
            merged.formUnion(other)
            return merged.bool == bool
        }

        mutating func formUnion(_ other: Taint) {
            // Copies of the bool: where each side either holds a copy or nothing of the result.
            if let mine = bool, let theirs = other.bool {
                bool = mine.merged(with: theirs, mine: resultTaint, theirs: other.resultTaint)
            } else {
                bool = nil
            }
            held.bits |= other.held.bits
            flags |= other.flags
            frame.formUnion(other.frame)
            if count != other.count { count = nil }
            for (offset, origins) in other.slots { slots[offset, default: 0] |= origins }
        }

        /// Where the callee's result (origin 0) is: registers, frame bytes, flags.
        var resultTaint: (registers: X86Instruction.Registers, bytes: Set<Int64>, flags: Bool) {
            (held.registers(of: 0), Set(slots.compactMap { $0.value & 1 != 0 ? $0.key : nil }), flags & 1 != 0)
        }

        /// The origins in the bytes `range`.
        func bytes(_ range: Range<Int64>) -> UInt8 {
            if range.count <= 64 { return range.reduce(0) { $0 | (slots[$1] ?? 0) } }
            return slots.reduce(0) { range.contains($1.key) ? $0 | $1.value : $0 }
        }

        /// A store of known width: the bytes hold `origins` and nothing else.
        mutating func replace(_ range: Range<Int64>, with origins: UInt8) {
            for offset in range { slots[offset] = origins == 0 ? nil : origins }
        }

        /// A store that may leave some of what the bytes held.
        mutating func merge(_ origins: UInt8, into range: Range<Int64>) {
            guard origins != 0 else { return }
            for offset in range { slots[offset, default: 0] |= origins }
        }

        /// After a call taking `arguments`: the caller-saved registers and the flags are the callee's.
        mutating func afterCall(arguments: CallArguments) {
            held.bits &= ~CallSiteFlowReader.callerSavedLanes
            flags = 0
            count = nil
            bool?.afterCall(givenFrame: !frame.passed(in: arguments.registerMask).isEmpty)
            frame.afterCall(arguments: arguments)
        }

        /// A branch decided the bool result (origin 0): its copies, and the flags tested, hold a constant on each side.
        mutating func decideBool(_ known: KnownBool) {
            held.bits &= ~UInt128(known.registers)
            flags &= ~1
            for (offset, width) in known.slots {
                for byte in offset ..< offset + Int64(width) { if let origins = slots[byte] { slots[byte] = origins & ~1 == 0 ? nil : origins & ~1 } }
            }
        }

        /// The origins in bytes at or above `offset` (memory the frame below does not own).
        func slots(from offset: Int64) -> UInt8 { slots.reduce(0) { $1.key >= offset ? $0 | $1.value : $0 } }

        var allSlots: UInt8 { slots.values.reduce(0, |) }
    }
}
