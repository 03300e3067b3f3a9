/// x86-64 direct branches with a 32-bit displacement: `call rel32` (E8), `jmp rel32` (E9) and
/// `jcc rel32` (0F 80-8F). The displacement is the instruction's last field, so a PC-relative
/// relocation at `offset` is a branch target when those opcode bytes end just before it. The
/// RIP-relative operand of any other instruction follows a ModRM byte of mod 00, r/m 101
/// (0x05, 0x0D, ... 0x3D), which is none of them.
enum DirectBranch {
    static let call: UInt8 = 0xE8
    static let jump: UInt8 = 0xE9
    static let conditionalPrefix: UInt8 = 0x0F
    static let conditional: ClosedRange<UInt8> = 0x80...0x8F

    /// Whether the 4 bytes at `offset` of `code` are the displacement of a direct branch.
    static func isDisplacement<C: RandomAccessCollection>(at offset: UInt64, in code: C) -> Bool where C.Element == UInt8, C.Index == Int {
        guard offset >= 1, Int(offset) + 4 <= code.count else { return false }
        let opcode = code[code.startIndex + Int(offset) - 1]
        if opcode == call || opcode == jump { return true }
        return offset >= 2 && code[code.startIndex + Int(offset) - 2] == conditionalPrefix && conditional.contains(opcode)
    }
}
