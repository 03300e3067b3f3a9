/// One x86-64 instruction decoded far enough to follow a value through registers:
/// its length, where control goes, which general-purpose registers it reads and
/// writes, and its memory operand. Only the integer instructions kernel C code is
/// compiled to are known; anything else decodes to nil, and every caller then
/// assumes the worst (docs/KTHREAD-SAFETY.md, "Following the value").
package struct X86Instruction: Equatable, Sendable {
    /// Register numbers as the encoding has them: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15.
    package typealias Registers = UInt16

    package enum Flow: Equatable, Sendable {
        case next
        /// A direct call (target address as decoded from the displacement; in an
        /// unlinked object the displacement is a relocation's and means nothing).
        case call(target: UInt64)
        /// A call through a register or memory.
        case indirectCall
        case jump(target: UInt64)
        case branch(target: UInt64)
        case indirectJump
        case ret
        /// `int3`, `hlt`: never continues.
        case stop
    }

    package struct Memory: Equatable, Sendable {
        package var base: Int?
        package var index: Int?
        package var displacement: Int64
        /// `disp(%rip)`: the address is the next instruction's plus the displacement.
        package var ripRelative: Bool
        /// `%gs:` (per-CPU data) or `%fs:`.
        package var segment: UInt8?
        /// Offset of the 4-byte displacement in the instruction (where a relocation would be), if it has one.
        package var displacementOffset: Int?
        package var isLoad: Bool
        package var isStore: Bool
        /// The register whose value a store writes (`mov %reg, mem`, `add %reg, mem`, ...).
        package var storedRegister: Int?
        /// Bytes accessed, where the decoder knows them (`mov`, `movzx`, `setcc`); nil otherwise.
        package var width: Int? = nil
    }

    package var length: Int
    package var flow: Flow
    /// Registers whose value the instruction uses (address registers included).
    /// A partial write (8 or 16 bits) counts as a use: the rest of the old value survives.
    package var reads: Registers
    /// Registers fully overwritten (32- and 64-bit destinations).
    package var writes: Registers
    /// `mov %src, %dst` between registers (64 or 32 bits): the value moves on unchanged.
    package var registerMove: (from: Int, to: Int)?
    package var memory: Memory?
    /// Registers written in part (8 or 16 bits, or conditionally): also in `reads`, as the old value partly survives.
    package var partialWrites: Registers = 0
    /// What the instruction does to the arithmetic flags.
    package var flags: FlagEffect = .merge
    /// Reads the arithmetic flags as data (`setcc`, `cmovcc`, `adc`, `sbb`, `pushf`); a branch's use is control only.
    package var readsFlags = false
    /// How far `%rsp` moves, when the instruction moves it by a known amount (`push`, `pop`, `add`/`sub` of a
    /// constant); a write of `%rsp` without it moves the stack by an amount not known.
    package var stackDelta: Int64?
    /// A system instruction (`wrmsr`, `mov %cr`, `syscall`, ...): what it reads leaves the function's data.
    package var system = false
    /// `ud2`: BUG() traps for good, WARN() continues after it.
    package var trap = false
    /// `lea`: the address it computes (a memory operand that is not accessed).
    package var address: Memory?
    /// `mov $imm, %reg`: the register and the constant it now holds.
    package var constant: (register: Int, value: Int64)?
    /// A string instruction with a rep prefix: its memory operand is repeated %rcx times.
    package var repeats = false
    /// `movs`: besides the load through %rsi (its memory operand), a store of it through %rdi.
    package var copies = false
    /// A string instruction: it moves %rsi/%rdi on past the bytes it accessed.
    package var advancesPointers = false
    /// `mov`, `movzx`, `movsx`: the destination takes the source's value (widened), nothing else.
    package var moves = false
    /// `test %r, %r` or `cmp $0, r/m`: the flags say whether the r/m operand (this many bytes of it) is zero.
    package var testsZero: Int?
    /// A conditional branch's condition (the low nibble of `jcc`: 4 `je`, 5 `jne`).
    package var condition: UInt8?

    package enum FlagEffect: Equatable, Sendable {
        /// Flags untouched (`mov`, `lea`, `push`, `cmovcc`, ...).
        case none
        /// Flags set from the operands alone (`cmp`, `test`, `add`, ...).
        case set
        /// Some flags set from the operands, others kept (`inc`, shifts, `bt`), or not known.
        case merge
    }

    /// The registers the value it computes or stores comes from: what it reads, less the registers that only
    /// address its memory operand (and %rsp for a push or pop), plus the register a store writes out.
    package var dataReads: Registers {
        var data = reads
        if let memory { data &= ~((memory.base.map(Self.bit) ?? 0) | (memory.index.map(Self.bit) ?? 0)) }
        if stackDelta != nil { data &= ~Self.bit(Self.rsp) }
        if let stored = memory?.storedRegister { data |= Self.bit(stored) }
        return data
    }

    /// `pop`: %rsp moves up past a slot the instruction loads (`add $n, %rsp` moves it without a load).
    package var pops: Bool { (stackDelta ?? 0) > 0 && writes & ~X86Instruction.bit(X86Instruction.rsp) != 0 }

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.length == rhs.length && lhs.flow == rhs.flow && lhs.reads == rhs.reads && lhs.writes == rhs.writes
            && lhs.registerMove?.from == rhs.registerMove?.from && lhs.registerMove?.to == rhs.registerMove?.to
            && lhs.memory == rhs.memory && lhs.partialWrites == rhs.partialWrites && lhs.flags == rhs.flags
            && lhs.readsFlags == rhs.readsFlags && lhs.stackDelta == rhs.stackDelta && lhs.system == rhs.system
            && lhs.trap == rhs.trap && lhs.address == rhs.address && lhs.constant?.register == rhs.constant?.register
            && lhs.constant?.value == rhs.constant?.value && lhs.repeats == rhs.repeats && lhs.copies == rhs.copies
            && lhs.advancesPointers == rhs.advancesPointers && lhs.moves == rhs.moves && lhs.testsZero == rhs.testsZero
            && lhs.condition == rhs.condition
    }

    package static let rax = 0, rcx = 1, rdx = 2, rbx = 3, rsp = 4, rbp = 5, rsi = 6, rdi = 7
    /// The SysV argument registers in order: rdi, rsi, rdx, rcx, r8, r9.
    package static let argumentRegisters = [7, 6, 2, 1, 8, 9]
    /// What a call may change: rax, rcx, rdx, rsi, rdi, r8-r11.
    package static let callerSaved: Registers = 0b0000_1111_1100_0111
    package static let all: Registers = 0xffff

    package static func bit(_ register: Int) -> Registers { 1 << Registers(register) }

    /// Maps a DWARF x86-64 register number (0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15) to the encoding's.
    package static func register(dwarf: Int) -> Int? {
        let map = [0, 2, 1, 3, 6, 7, 5, 4]
        if dwarf < 8 { return map[dwarf] }
        return dwarf < 16 ? dwarf : nil
    }
}

/// The decoder: `decode(bytes, at:)` reads one instruction at `address` from a buffer starting at `base`.
package enum X86Decoder {
    package static func decode(_ code: UnsafeBufferPointer<UInt8>, offset start: Int, address: UInt64) -> X86Instruction? {
        var cursor = start
        func byte() -> UInt8? {
            guard cursor < code.count else { return nil }
            defer { cursor += 1 }
            return code[cursor]
        }
        func signed(_ count: Int) -> Int64? {
            guard cursor + count <= code.count else { return nil }
            var value: UInt64 = 0
            for i in 0..<count { value |= UInt64(code[cursor + i]) << (8 * UInt64(i)) }
            cursor += count
            let shift = UInt64(64 - 8 * count)
            return Int64(bitPattern: value << shift) >> Int64(shift)
        }

        /// The next `count` bytes as a signed value, without moving on (an immediate read before it is skipped).
        func peekSigned(_ count: Int) -> Int64? {
            let saved = cursor
            defer { cursor = saved }
            return signed(count)
        }

        var operandSize16 = false, segment: UInt8?, rex: UInt8 = 0, repPrefix = false

        func decodeOpcode(_ opcode: UInt8) -> X86Instruction? {
            let rexW = rex & 8 != 0, rexR = Int(rex & 4) << 1, rexX = Int(rex & 2) << 2, rexB = Int(rex & 1) << 3
            var result = X86Instruction(length: 0, flow: .next, reads: 0, writes: 0, registerMove: nil, memory: nil)
            let b = X86Instruction.bit

            // ModRM operand: a register, or memory.
            struct Operand { var register: Int?; var memory: X86Instruction.Memory? }
            var reg = 0
            var rm = Operand()
            // Byte operands: without a REX prefix, registers 4-7 are %ah, %ch, %dh, %bh (bits 8-15 of rax-rbx).
            var byteRM = false, byteReg = false
            switch opcode {
            case 0x00...0x3f where opcode & 7 < 4 && opcode & 1 == 0: byteRM = true; byteReg = true
            case 0x84, 0x86, 0x88, 0x8a: byteRM = true; byteReg = true
            case 0x80, 0xc0, 0xc6, 0xd0, 0xd2, 0xf6, 0xfe: byteRM = true
            default: break
            }
            func highByte(_ register: Int) -> Int { rex == 0 && register >= 4 && register < 8 ? register - 4 : register }
            func modrm() -> Bool {
                guard let m = byte() else { return false }
                let mod = m >> 6
                reg = Int((m >> 3) & 7) | rexR
                if byteReg { reg = highByte(reg) }
                let low = Int(m & 7)
                if mod == 3 { rm.register = byteRM ? highByte(low | rexB) : low | rexB; return true }
                var memory = X86Instruction.Memory(base: nil, index: nil, displacement: 0, ripRelative: false, segment: segment,
                                                   displacementOffset: nil, isLoad: false, isStore: false, storedRegister: nil)
                var displacementSize = mod == 1 ? 1 : (mod == 2 ? 4 : 0)
                if low == 4 {
                    guard let sib = byte() else { return false }
                    let index = Int((sib >> 3) & 7) | rexX
                    if index != 4 { memory.index = index }
                    let base = Int(sib & 7)
                    if base == 5 && mod == 0 { displacementSize = 4 } else { memory.base = base | rexB }
                } else if low == 5 && mod == 0 {
                    memory.ripRelative = true
                    displacementSize = 4
                } else {
                    memory.base = low | rexB
                }
                if displacementSize == 4 { memory.displacementOffset = cursor - start }
                guard let displacement = displacementSize == 0 ? 0 : signed(displacementSize) else { return false }
                memory.displacement = displacement
                rm.memory = memory
                return true
            }
            func addressReads() -> X86Instruction.Registers {
                guard let memory = rm.memory else { return 0 }
                return (memory.base.map(b) ?? 0) | (memory.index.map(b) ?? 0)
            }
            /// The r/m operand read (`full`: whether a register destination write is full).
            func readRM() {
                if let r = rm.register { result.reads |= b(r) } else { rm.memory!.isLoad = true }
            }
            func writeRM(full: Bool, value: Int? = nil) {
                if let r = rm.register {
                    if full { result.writes |= b(r) } else { result.reads |= b(r); result.partialWrites |= b(r) }
                } else {
                    rm.memory!.isStore = true
                    rm.memory!.storedRegister = value
                }
            }
            func writeReg(_ r: Int, full: Bool) { if full { result.writes |= b(r) } else { result.reads |= b(r); result.partialWrites |= b(r) } }
            let wide = rexW || !operandSize16 // 32/64-bit operand: a register write is full
            let operandBytes = rexW ? 8 : operandSize16 ? 2 : 4
            /// The memory operand's width, once `modrm()` decoded one.
            func accesses(_ bytes: Int) { rm.memory?.width = bytes }
            let immediateZ = operandSize16 ? 2 : 4
            var immediate = 0

            switch opcode {
            case 0x00...0x3f where opcode & 7 < 6 && opcode != 0x0f && opcode & 0xe7 != 0x26:
                let op = opcode >> 3 // 0 add 1 or 2 adc 3 sbb 4 and 5 sub 6 xor 7 cmp
                let byteOp = opcode & 1 == 0
                result.flags = .set
                result.readsFlags = op == 2 || op == 3
                let full = !byteOp && wide
                switch opcode & 7 {
                case 0, 1:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | addressReads()
                    readRM()
                    if op != 7 {
                        if (op == 6 || op == 5), rm.register == reg { result.reads &= ~b(reg) }
                        writeRM(full: full, value: reg)
                    }
                case 2, 3:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | addressReads()
                    readRM()
                    if op != 7 {
                        if (op == 6 || op == 5), rm.register == reg { result.reads &= ~b(reg) }
                        writeReg(reg, full: full)
                    }
                case 4: result.reads |= b(0); immediate = 1; if op != 7 { writeReg(0, full: false) }
                default: result.reads |= b(0); immediate = immediateZ; if op != 7 { writeReg(0, full: wide) }
                }
            case 0x50...0x57:
                result.reads |= b(Int(opcode & 7) | rexB) | b(4); result.flags = .none; result.stackDelta = operandSize16 ? -2 : -8
            case 0x58...0x5f:
                result.writes |= b(Int(opcode & 7) | rexB); result.reads |= b(4); result.flags = .none; result.stackDelta = operandSize16 ? 2 : 8
            case 0x63:
                guard modrm() else { return nil }
                result.reads |= addressReads(); readRM(); writeReg(reg, full: true); result.flags = .none; accesses(4)
                result.moves = true
            case 0x68: immediate = immediateZ; result.reads |= b(4); result.flags = .none; result.stackDelta = operandSize16 ? -2 : -8
            case 0x6a: immediate = 1; result.reads |= b(4); result.flags = .none; result.stackDelta = operandSize16 ? -2 : -8
            case 0x69, 0x6b:
                guard modrm() else { return nil }
                result.reads |= addressReads(); readRM(); writeReg(reg, full: wide); result.flags = .set
                immediate = opcode == 0x69 ? immediateZ : 1
            case 0x70...0x7f:
                result.condition = opcode & 0xf
                guard let d = signed(1) else { return nil }
                result.flow = .branch(target: UInt64(bitPattern: Int64(bitPattern: address) &+ Int64(cursor - start) &+ d))
            case 0x80, 0x81, 0x83:
                guard modrm() else { return nil }
                result.reads |= addressReads(); readRM()
                if reg & 7 != 7 { writeRM(full: opcode != 0x80 && wide) }
                immediate = opcode == 0x81 ? immediateZ : 1
                result.flags = .set
                result.readsFlags = reg & 7 == 2 || reg & 7 == 3
                if reg & 7 == 7 && peekSigned(immediate) == 0 { result.testsZero = opcode == 0x80 ? 1 : operandBytes }
                if opcode == 0x80 { accesses(1) }
                // add/sub of a constant to %rsp: the stack moves by it.
                if rexW, rm.register == 4, reg & 7 == 0 || reg & 7 == 5, let value = peekSigned(immediate) {
                    result.stackDelta = reg & 7 == 0 ? value : -value
                }
            case 0x84, 0x85:
                guard modrm() else { return nil }
                result.reads |= b(reg) | addressReads(); readRM(); result.flags = .set
                if rm.register == reg { result.testsZero = opcode == 0x84 ? 1 : operandBytes }
            case 0x86, 0x87:
                guard modrm() else { return nil }
                result.reads |= b(reg) | addressReads(); readRM(); result.flags = .none
                writeRM(full: opcode == 0x87 && wide, value: reg); writeReg(reg, full: opcode == 0x87 && wide)
            case 0x88, 0x89:
                guard modrm() else { return nil }
                result.flags = .none
                result.reads |= b(reg) | addressReads()
                let full = opcode == 0x89 && wide
                writeRM(full: full, value: reg)
                accesses(opcode == 0x88 ? 1 : operandBytes)
                result.moves = true
                if full, let to = rm.register { result.registerMove = (reg, to) }
            case 0x8a, 0x8b:
                guard modrm() else { return nil }
                result.flags = .none
                result.reads |= addressReads(); readRM()
                let full = opcode == 0x8b && wide
                writeReg(reg, full: full)
                accesses(opcode == 0x8a ? 1 : operandBytes)
                result.moves = true
                if full, let from = rm.register { result.registerMove = (from, reg) }
            case 0x8d:
                guard modrm(), rm.memory != nil else { return nil }
                result.reads |= addressReads(); result.address = rm.memory; rm.memory = nil; writeReg(reg, full: wide); result.flags = .none
            case 0x8f:
                guard modrm() else { return nil }
                result.reads |= addressReads() | b(4); writeRM(full: true); result.flags = .none; result.stackDelta = 8
            case 0x90:
                result.flags = .none // nop, pause
            case 0x91...0x97:
                let r = Int(opcode & 7) | rexB
                result.reads |= b(0) | b(r); writeReg(0, full: wide); writeReg(r, full: wide); result.flags = .none
            case 0x98: result.reads |= b(0); result.writes |= b(0); result.flags = .none // cdqe
            case 0x99: result.reads |= b(0); result.writes |= b(2); result.flags = .none // cqo
            case 0x9c: result.reads |= b(4); result.readsFlags = true; result.flags = .none; result.stackDelta = -8
            case 0x9d: result.reads |= b(4); result.stackDelta = 8
            case 0xa8: result.reads |= b(0); immediate = 1; result.flags = .set
            case 0xa9: result.reads |= b(0); immediate = immediateZ; result.flags = .set
            case 0xa4...0xa7, 0xaa...0xaf:
                // String instructions: movs copies (%rsi) to (%rdi), cmps compares them, stos stores %rax through
                // %rdi, scas compares it with (%rdi), lods loads (%rsi) into %rax. A rep prefix repeats them %rcx times.
                let source = opcode <= 0xa7 || opcode >= 0xac && opcode <= 0xad
                let pointer = source ? 6 : 7
                result.reads |= b(pointer) | (repPrefix ? b(1) : 0); result.writes |= b(pointer) | (repPrefix ? b(1) : 0)
                if opcode <= 0xa7 { result.reads |= b(7); result.writes |= b(7); result.copies = opcode <= 0xa5 }
                if opcode == 0xaa || opcode == 0xab || opcode >= 0xae { result.reads |= b(0) }
                if opcode == 0xac || opcode == 0xad { writeReg(0, full: opcode == 0xad && wide) }
                result.repeats = repPrefix
                result.advancesPointers = true
                result.flags = opcode == 0xa6 || opcode == 0xa7 || opcode >= 0xae ? .set : .none
                let stores = opcode == 0xaa || opcode == 0xab
                rm.memory = .init(base: pointer, index: nil, displacement: 0, ripRelative: false, segment: segment, displacementOffset: nil,
                                  isLoad: !stores, isStore: stores, storedRegister: stores ? 0 : nil, width: opcode & 1 == 0 ? 1 : operandBytes)
            case 0xb0...0xb7:
                writeReg(highByte(Int(opcode & 7) | rexB), full: false); immediate = 1; result.flags = .none
            case 0xb8...0xbf:
                writeReg(Int(opcode & 7) | rexB, full: wide); immediate = rexW ? 8 : immediateZ; result.flags = .none
                if let value = peekSigned(immediate) { result.constant = (Int(opcode & 7) | rexB, rexW ? value : value & 0xffff_ffff) }
            case 0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3:
                guard modrm() else { return nil }
                result.reads |= addressReads() | (opcode >= 0xd2 ? b(1) : 0); readRM()
                writeRM(full: opcode & 1 == 1 && wide)
                immediate = opcode <= 0xc1 ? 1 : 0
            case 0xc2: immediate = 2; result.flow = .ret
            case 0xc3: result.flow = .ret
            case 0xc6, 0xc7:
                guard modrm() else { return nil }
                result.reads |= addressReads()
                writeRM(full: opcode == 0xc7 && wide)
                accesses(opcode == 0xc6 ? 1 : operandBytes)
                immediate = opcode == 0xc6 ? 1 : immediateZ
                result.flags = .none
                if opcode == 0xc7, wide, let r = rm.register, let value = peekSigned(immediate) {
                    result.constant = (r, rexW ? value : value & 0xffff_ffff)
                }
            case 0xc9: result.reads |= b(5); result.writes |= b(4) | b(5); result.flags = .none
            case 0xcc, 0xf4: result.flow = .stop
            case 0xe8:
                guard let d = signed(4) else { return nil }
                result.flow = .call(target: UInt64(bitPattern: Int64(bitPattern: address) &+ Int64(cursor - start) &+ d))
            case 0xe9, 0xeb:
                guard let d = signed(opcode == 0xe9 ? 4 : 1) else { return nil }
                result.flow = .jump(target: UInt64(bitPattern: Int64(bitPattern: address) &+ Int64(cursor - start) &+ d))
            case 0xf5, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd:
                break
            case 0xf6, 0xf7:
                guard modrm() else { return nil }
                result.reads |= addressReads(); readRM()
                switch reg & 7 {
                case 0, 1: immediate = opcode == 0xf6 ? 1 : immediateZ; result.flags = .set
                case 2: writeRM(full: opcode == 0xf7 && wide); result.flags = .none
                case 3: writeRM(full: opcode == 0xf7 && wide); result.flags = .set
                default: result.reads |= b(0) | b(2); result.writes |= b(0) | b(2); result.flags = .set
                }
            case 0xfe, 0xff:
                guard modrm() else { return nil }
                result.reads |= addressReads()
                switch reg & 7 {
                case 0, 1: readRM(); writeRM(full: opcode == 0xff && wide)
                case 2 where opcode == 0xff: readRM(); result.flow = .indirectCall
                case 4 where opcode == 0xff: readRM(); result.flow = .indirectJump
                case 6 where opcode == 0xff: readRM(); result.reads |= b(4); result.stackDelta = -8; result.flags = .none
                default: return nil
                }
            case 0x0f:
                guard let second = byte() else { return nil }
                byteRM = (0x90...0x9f).contains(second) || [0xb0, 0xb6, 0xbe, 0xc0].contains(second)
                byteReg = second == 0xb0 || second == 0xc0
                switch second {
                case 0x0b: result.trap = true // ud2: WARN() continues after it
                case 0x05: result.reads = X86Instruction.all; result.writes |= b(1) | b(11); result.system = true // syscall
                case 0x1e where repPrefix: // endbr64 (f3 0f 1e fa)
                    guard modrm() else { return nil }
                case 0x1f, 0x18, 0x0d:
                    guard modrm() else { return nil }
                    result.reads |= addressReads(); rm.memory = nil; result.flags = .none
                case 0x01:
                    guard modrm() else { return nil }
                    // clac/stac touch no register; other system instructions are taken to use them all.
                    if let r = rm.register, reg & 7 == 1, r & 7 == 2 || r & 7 == 3 { break }
                    result.reads = X86Instruction.all; rm.memory = nil; result.system = true
                case 0xae:
                    guard modrm() else { return nil }
                    result.reads |= addressReads(); rm.memory = nil
                case 0x31: result.writes |= b(0) | b(2)
                case 0xa2: result.reads |= b(0) | b(1); result.writes |= b(0) | b(1) | b(2) | b(3)
                case 0x30: result.reads |= b(0) | b(1) | b(2); result.system = true // wrmsr
                case 0x32: result.reads |= b(1); result.writes |= b(0) | b(2)
                case 0x40...0x4f:
                    guard modrm() else { return nil }
                    // cmovcc: the destination keeps its value or takes the source's, as the flags say.
                    result.reads |= b(reg) | addressReads(); readRM(); writeReg(reg, full: false)
                    result.readsFlags = true; result.flags = .none
                case 0x80...0x8f:
                    result.condition = second & 0xf
                    guard let d = signed(4) else { return nil }
                    result.flow = .branch(target: UInt64(bitPattern: Int64(bitPattern: address) &+ Int64(cursor - start) &+ d))
                case 0x90...0x9f:
                    guard modrm() else { return nil }
                    result.reads |= addressReads(); writeRM(full: false); accesses(1); result.readsFlags = true; result.flags = .none
                case 0xa3, 0xab, 0xb3, 0xbb:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | addressReads(); readRM()
                    if second != 0xa3 { writeRM(full: wide) }
                case 0xba:
                    guard modrm() else { return nil }
                    result.reads |= addressReads(); readRM(); immediate = 1
                    if reg & 7 != 4 { writeRM(full: wide) }
                case 0xaf, 0xbc, 0xbd, 0xb8:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | addressReads(); readRM(); writeReg(reg, full: wide); result.flags = .set
                case 0xb6, 0xb7, 0xbe, 0xbf:
                    guard modrm() else { return nil }
                    result.reads |= addressReads(); readRM(); writeReg(reg, full: true); result.flags = .none
                    accesses(second & 1 == 0 ? 1 : 2)
                    result.moves = true
                case 0xb0, 0xb1:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | b(0) | addressReads(); readRM()
                    writeRM(full: second == 0xb1 && wide, value: reg); result.reads |= b(0); result.partialWrites |= b(0); result.flags = .set
                case 0xc0, 0xc1:
                    guard modrm() else { return nil }
                    result.reads |= b(reg) | addressReads(); readRM()
                    writeRM(full: second == 0xc1 && wide, value: reg); writeReg(reg, full: second == 0xc1 && wide); result.flags = .set
                case 0xc7:
                    guard modrm(), rm.memory != nil else { return nil }
                    result.reads |= addressReads() | b(0) | b(1) | b(2) | b(3); readRM(); writeRM(full: true)
                    result.writes |= b(0) | b(2)
                case 0xc8...0xcf:
                    writeReg(Int(second & 7) | rexB, full: false); result.flags = .none
                case 0x20, 0x21, 0x22, 0x23:
                    guard modrm(), let r = rm.register else { return nil }
                    if second & 2 == 0 { result.writes |= b(r) } else { result.reads |= b(r); result.system = true }
                default:
                    return nil
                }
            default:
                return nil
            }
            guard cursor + immediate <= code.count else { return nil }
            cursor += immediate
            result.memory = rm.memory
            result.length = cursor - start
            return result
        }

        // Prefixes, then REX, then the opcode.
        while true {
            guard let b = byte() else { return nil }
            switch b {
            case 0x66: operandSize16 = true
            case 0x67, 0xf0, 0x2e, 0x36, 0x3e, 0x26: break
            case 0xf2, 0xf3: repPrefix = true
            case 0x64, 0x65: segment = b
            default:
                var opcode = b
                if b & 0xf0 == 0x40 {
                    rex = b
                    guard let next = byte() else { return nil }
                    opcode = next
                }
                return decodeOpcode(opcode)
            }
        }
    }
}
