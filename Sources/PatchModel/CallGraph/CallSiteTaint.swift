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
    /// the arithmetic flags, and slots of the caller's own stack frame.
    struct Taint: Equatable {
        var held: Held
        /// Origins the flags were computed from.
        var flags: UInt8 = 0
        /// Stack slots (by offset from %rsp at the call's return) holding origins. A slot once written with a value
        /// keeps it (the width of a later store is not known).
        var slots: [Int64: UInt8] = [:]
        /// %rsp relative to its value at the call's return; nil once it moved by an amount not known.
        var depth: Int64? = 0

        func contains(_ other: Taint) -> Bool {
            held.contains(other.held) && flags | other.flags == flags && depth == other.depth
                && other.slots.allSatisfy { slot in (slots[slot.key] ?? 0) | slot.value == slots[slot.key] ?? 0 }
        }

        mutating func formUnion(_ other: Taint) {
            held.bits |= other.held.bits
            flags |= other.flags
            for (offset, origins) in other.slots { slots[offset, default: 0] |= origins }
        }

        /// The origins in the 8 bytes at `offset` (any slot overlapping them).
        func slot(at offset: Int64) -> UInt8 {
            slots.reduce(0) { abs($1.key - offset) < 8 ? $0 | $1.value : $0 }
        }

        /// The origins in slots at or above `offset` (memory the frame below does not own).
        func slots(from offset: Int64) -> UInt8 { slots.reduce(0) { $1.key >= offset ? $0 | $1.value : $0 } }

        var allSlots: UInt8 { slots.values.reduce(0, |) }
    }
}
