import CElf

/// What a caller does, after one call returns, with what the callee can hand
/// back: its result in %rax, and the objects it passed by pointer (which the
/// callee may have written). Read from the caller's machine code and the call
/// site's DWARF parameters, per call site; merged per (caller, callee) edge.
/// Two questions per value: does the caller read it at all (the value comes into
/// it), and can it carry it on to its own caller (a data path in its code from the
/// value to its result, to a store outside its own stack frame, or to another call)?
/// Where the code or the DWARF cannot tell, the value counts as read and carried on.
public struct CallSiteFlow: Equatable, Sendable, CustomStringConvertible {
    /// Bit 0: result read; bits 1-6: argument i kept by the caller itself; bit 7: result carried on;
    /// bits 8 + 6 * i + j: argument i is the caller's own parameter j, handed on (the object is its caller's);
    /// bits 44-49: argument i carried on.
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The caller reads %rax after the call before overwriting it (or the code could not be followed).
    public static let resultUsed = CallSiteFlow(rawValue: 1)
    /// The result (or something computed from it) reaches the caller's own result, memory outside its frame, or
    /// another call: the caller can hand it on.
    public static let resultCarriedOn = CallSiteFlow(rawValue: 1 << 7)
    /// Every channel kept and carried on: inlined bodies and tail calls (the callee's result is the caller's), unknown code.
    public static let keepsEverything = CallSiteFlow(rawValue: 0xff | 0x3f << 44)
    public static let keepsNothing = CallSiteFlow(rawValue: 0)

    /// Argument `index` (0-5: %rdi, %rsi, %rdx, %rcx, %r8, %r9) is still held by the caller after the call: in a
    /// register it reads afterwards, in its own frame, in global data, or the DWARF does not say where.
    public static func argumentKept(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 2 << UInt64(index)) }
    /// What argument `index` points to can reach the caller's result, memory outside its frame or another call.
    public static func argumentCarriedOn(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 1 << UInt64(44 + index)) }
    /// Argument `index` is the caller's own parameter `parameter` (an entry value), not kept in the caller.
    public static func argumentHandedOn(_ index: Int, asParameter parameter: Int) -> CallSiteFlow {
        CallSiteFlow(rawValue: 1 << UInt64(8 + 6 * index + parameter))
    }

    public var usesResult: Bool { rawValue & 1 != 0 }
    public var carriesResultOn: Bool { rawValue & (1 << 7) != 0 }
    public func keepsArgument(_ index: Int) -> Bool { rawValue & (2 << UInt64(index)) != 0 }
    public func carriesArgumentOn(_ index: Int) -> Bool { rawValue & (1 << UInt64(44 + index)) != 0 }
    /// Bits 0-5: the arguments kept.
    public var keptArguments: UInt8 { UInt8((rawValue >> 1) & 0x3f) }
    /// The caller's parameters (bits 0-5) that argument `index` hands on.
    public func handedOn(_ index: Int) -> UInt8 { UInt8((rawValue >> UInt64(8 + 6 * index)) & 0x3f) }

    public mutating func formUnion(_ other: CallSiteFlow) { rawValue |= other.rawValue }

    /// Through which channels a value the callee hands back through `channels` leaves the caller, given
    /// the caller's own prototype; nil when it does not come into the caller at all, empty when it comes in
    /// and stops there (the caller consumes it).
    /// Carried on by the caller's code: every channel of the caller. Only handed on as the caller's own
    /// parameter: that parameter.
    public func channels(into caller: FunctionSignature, from channels: ValueChannels) -> ValueChannels? {
        if channels.contains(.unknown) { return caller.channels }
        var comesIn = channels.contains(.result) && usesResult
        var carried = channels.contains(.result) && carriesResultOn
        var handed = ValueChannels()
        for index in 0..<6 where channels.contains(.argument(index)) {
            if keepsArgument(index) { comesIn = true }
            if carriesArgumentOn(index) { carried = true }
            // Handed on as a parameter the caller's prototype lets it write through (a const one is trusted as the compiler does).
            for parameter in 0..<6 where handedOn(index) & (1 << UInt8(parameter)) != 0
                && (caller.unknownChannels || caller.writableArguments & (1 << UInt8(parameter)) != 0) {
                handed.insert(.argument(parameter))
            }
        }
        if carried { return caller.channels.union(handed) }
        if comesIn { return handed }
        return handed.isEmpty ? nil : handed
    }

    public var description: String {
        var kept: [String] = []
        if usesResult { kept.append(carriesResultOn ? "carries the result on" : "reads the result (and consumes it)") }
        let arguments = (0..<6).filter(keepsArgument).map { "argument \($0 + 1)" + (carriesArgumentOn($0) ? " (carried on)" : " (consumed)") }
        if !arguments.isEmpty { kept.append("keeps " + arguments.joined(separator: ", ")) }
        let handed = (0..<6).filter { handedOn($0) != 0 }.map { "argument \($0 + 1)" }
        if !handed.isEmpty { kept.append("hands on its own parameter as " + handed.joined(separator: ", ")) }
        return kept.isEmpty ? "uses nothing the callee hands back" : kept.joined(separator: ", ")
    }
}

/// The ways a value leaves a function toward its caller: its result, a parameter it can write through.
public struct ValueChannels: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let result = ValueChannels(rawValue: 1)
    public static func argument(_ index: Int) -> ValueChannels { ValueChannels(rawValue: 2 << UInt8(index)) }
    /// Which registers carry which argument is not known: every channel.
    public static let unknown = ValueChannels(rawValue: 0x80)
}

/// What a function's prototype lets it hand back, channel by channel (one byte per node of the graph).
public struct FunctionSignature: Equatable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Prototype not known (declared only, or defined elsewhere): every channel open.
    public static let unknown = FunctionSignature(rawValue: 0xff)
    public static let nothing = FunctionSignature(rawValue: 0)

    public var returnsValue: Bool { rawValue & 1 != 0 }
    /// Bit i: the (i+1)-th argument register carries a parameter the function can write through
    /// (a writable pointer, or an integer as wide as a pointer).
    public var writableArguments: UInt8 { (rawValue >> 1) & 0x3f }
    /// Variable arguments, a struct passed by value, or a writable parameter past the sixth:
    /// the registers do not say which argument is which.
    public var unknownChannels: Bool { rawValue & 0x80 != 0 }
    public var passesNothingBack: Bool { rawValue == 0 }
    /// Its channels as `ValueChannels` (the same bits).
    public var channels: ValueChannels { ValueChannels(rawValue: rawValue) }
}

/// Reads the call-site flow of the calls of one file's functions.
final class CallSiteFlowReader {
    private let file: DwarfFile
    /// The register each retpoline thunk (`__x86_indirect_thunk_r11` calls through %r11) calls through, by its
    /// libdwfl address (linked files); read on first use.
    private var thunkRegisterByAddress: [UInt64: Int]?
    private static let maxInstructions = 400
    private static let calleeSaved: Set<Int> = [3, 5, 12, 13, 14, 15]

    init(file: DwarfFile) {
        self.file = file
    }

    /// The flow at the call site `callSite` (a DW_TAG_call_site of a call; `tailCallFlow` for a tail call), made by the
    /// function with code ranges `ranges` (DWARF addresses), which returns a value or not.
    /// `parameters`: the caller's formal parameter DIEs, in order (for where it keeps them after the call).
    /// Also returns the addresses of the caller's stores of what it keeps (data computed from it) outside its
    /// own frame (nil when the scan could not follow its code to the end), and the arguments (bits 0-5) it keeps
    /// in memory, whose later loads are not followed.
    func flow(at callSite: inout Dwarf_Die, ranges: [(UInt64, UInt64)], callerReturnsValue: Bool,
              parameters: inout [Dwarf_Die], channels: FunctionSignature = .unknown)
        -> (flow: CallSiteFlow, stores: [UInt64]?, unfollowed: UInt8) {
        var attr = Dwarf_Attribute()
        var returnPC: Dwarf_Addr = 0
        guard dwarf_attr(&callSite, DwarfAttribute.callReturnPC, &attr) != nil, dwarf_formaddr(&attr, &returnPC) == 0
        else { return (.keepsEverything, nil, 0x3f) }
        // Origins of the values followed: 0 the result (%rax), 1...6 the arguments held in callee-saved registers.
        // An argument the DWARF gives no value for is not held by the caller in any register or slot GCC could name
        // after the call: it counts as not kept (docs/KTHREAD-SAFETY.md, "Following the value").
        var kept = CallSiteFlow.keepsNothing
        var handedOn = CallSiteFlow.keepsNothing
        var unfollowed: UInt8 = 0
        var origins: [X86Instruction.Registers] = Array(repeating: 0, count: 7)
        if channels.returnsValue || channels.unknownChannels { origins[0] = X86Instruction.bit(X86Instruction.rax) }
        let writable = channels.unknownChannels ? 0x3f : channels.writableArguments
        for (index, value) in parameterValues(of: &callSite) where writable & (1 << UInt8(index)) != 0 {
            switch value {
            case .constant: break
            case .registers(let registers): origins[index + 1] = registers
            case .entryValue(let parameter):
                handedOn.formUnion(.argumentHandedOn(index, asParameter: parameter))
                // Where the caller itself still has that parameter after the call: there it may use the object too.
                switch parameter < parameters.count ? location(of: &parameters[parameter], at: returnPC) : .other {
                case .registers(let registers): origins[index + 1] = registers
                case .other: kept.formUnion(.argumentKept(index)); kept.formUnion(.argumentCarriedOn(index)); unfollowed |= 1 << UInt8(index)
                case .constant, .entryValue: break
                }
            // In its frame or in memory: where the caller reads it from afterwards is not followed.
            case .other: kept.formUnion(.argumentKept(index)); kept.formUnion(.argumentCarriedOn(index)); unfollowed |= 1 << UInt8(index)
            }
        }
        let (read, carried, stores) = origins.allSatisfy({ $0 == 0 }) ? (0, 0, [])
            : scan(from: returnPC, origins: origins, ranges: ranges, callerReturnsValue: callerReturnsValue)
        var result = kept
        result.formUnion(handedOn)
        if read & 1 != 0 { result.formUnion(.resultUsed) }
        if carried & 1 != 0 { result.formUnion(.resultCarriedOn) }
        for index in 0..<6 where origins[index + 1] != 0 {
            if read & (1 << (index + 1)) != 0 { result.formUnion(.argumentKept(index)) }
            if carried & (1 << (index + 1)) != 0 { result.formUnion(.argumentCarriedOn(index)) }
        }
        return (result, stores, unfollowed)
    }

    /// The flow at a tail call (`jmp callee`): the caller's frame is gone when the callee runs, so it keeps
    /// nothing; the callee's result is the caller's own (when the caller returns a value), and an argument is
    /// handed on as the caller's parameter when it is that parameter's entry value. Any other argument the
    /// callee can write through (computed, loaded from memory, or without a DWARF value: its origin is not
    /// known) counts as kept and carried on.
    func tailCallFlow(at callSite: inout Dwarf_Die, callerReturnsValue: Bool, channels: FunctionSignature) -> CallSiteFlow {
        // (Nothing of the caller's code runs after it: it stores nothing of the value.)
        var flow = CallSiteFlow.keepsNothing
        if callerReturnsValue && (channels.returnsValue || channels.unknownChannels) {
            flow.formUnion(.resultUsed); flow.formUnion(.resultCarriedOn)
        }
        let writable = channels.unknownChannels ? 0x3f : channels.writableArguments
        var described = [ParameterValue?](repeating: nil, count: 6)
        for (index, value) in parameterValues(of: &callSite) { described[index] = value }
        for index in 0..<6 where writable & (1 << UInt8(index)) != 0 {
            switch described[index] {
            case .constant: break
            case .entryValue(let parameter): flow.formUnion(.argumentHandedOn(index, asParameter: parameter))
            case .registers, .other, nil: flow.formUnion(.argumentKept(index)); flow.formUnion(.argumentCarriedOn(index))
            }
        }
        return flow
    }

    /// Where a parameter of the caller is at `address`: a callee-saved register, gone (entry value or no
    /// location: `.constant` stands for "nowhere"), or anywhere else (its frame: `.other`).
    private func location(of parameter: inout Dwarf_Die, at address: UInt64) -> ParameterValue {
        var attr = Dwarf_Attribute()
        guard dwarf_attr(&parameter, DwarfAttribute.location, &attr) != nil else { return .constant }
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var count = 0
        let found = dwarf_getlocation_addr(&attr, address, &ops, &count, 1)
        guard found > 0, let ops, count > 0 else { return found == 0 ? .constant : .other }
        let first = ops.pointee
        if first.atom == UInt8(DW_OP_entry_value) || first.atom == UInt8(DW_OP_GNU_entry_value) { return .constant }
        guard count == 1 else { return .other }
        let dwarfRegister: Int
        if first.atom >= UInt8(DW_OP_reg0) && first.atom <= UInt8(DW_OP_reg31) {
            dwarfRegister = Int(first.atom - UInt8(DW_OP_reg0))
        } else {
            return .other
        }
        guard let register = X86Instruction.register(dwarf: dwarfRegister), Self.calleeSaved.contains(register) else { return .other }
        return .registers(X86Instruction.bit(register))
    }

    private enum ParameterValue {
        case constant
        /// Computed from these callee-saved registers (one, or arithmetic on several), held across the call.
        case registers(X86Instruction.Registers)
        /// The caller's own parameter `index` as it was on entry.
        case entryValue(Int)
        case other
    }

    /// The call site's described arguments: index (0-5) -> what its value is in the caller.
    private func parameterValues(of callSite: inout Dwarf_Die) -> [(Int, ParameterValue)] {
        var parameter = Dwarf_Die()
        guard dwarf_child(&callSite, &parameter) == 0 else { return [] }
        var values: [(Int, ParameterValue)] = []
        repeat {
            let tag = dwarf_tag(&parameter)
            guard tag == DwarfTag.callSiteParameter || tag == DwarfTag.gnuCallSiteParameter,
                  let location = operations(of: &parameter, DwarfAttribute.location), location.count == 1,
                  location[0].atom >= UInt8(DW_OP_reg0), location[0].atom <= UInt8(DW_OP_reg31),
                  let index = Self.argumentDwarfRegisters[location[0].atom - UInt8(DW_OP_reg0)] else { continue }
            guard let value = operations(of: &parameter, DwarfAttribute.callValue)
                    ?? operations(of: &parameter, DwarfAttribute.gnuCallSiteValue), let first = value.first else { continue }
            values.append((index, Self.classify(first, rest: value.dropFirst())))
        } while DwarfFile.nextSibling(&parameter)
        return values
    }

    /// DWARF register number -> argument index.
    private static let argumentDwarfRegisters: [UInt8: Int] = [5: 0, 4: 1, 1: 2, 2: 3, 8: 4, 9: 5]

    private static func classify(_ first: Dwarf_Op, rest: ArraySlice<Dwarf_Op>) -> ParameterValue {
        let atom = first.atom
        if atom == UInt8(DW_OP_entry_value) || atom == UInt8(DW_OP_GNU_entry_value) {
            // The block is one register operation naming the parameter's register on entry. libdw's number2 points
            // at the block as DW_FORM_exprloc has it: its length (one ULEB128 byte here), then the operation.
            guard rest.allSatisfy({ $0.atom == UInt8(DW_OP_stack_value) }), first.number == 1,
                  let block = UnsafePointer<UInt8>(bitPattern: UInt(first.number2)), block[0] == 1,
                  block[1] >= UInt8(DW_OP_reg0), block[1] <= UInt8(DW_OP_reg0) + 9,
                  let index = argumentDwarfRegisters[block[1] - UInt8(DW_OP_reg0)] else { return .other }
            return .entryValue(index)
        }
        // Arithmetic on constants and callee-saved registers (a size, an element's address) is held in those
        // registers; a load from memory (deref), the frame (fbreg, %rsp, %rbp plus an offset) or global data is not.
        var registers: X86Instruction.Registers = 0
        for (position, op) in ([first] + rest).enumerated() {
            let atom = op.atom
            if Self.arithmetic.contains(atom) || (atom >= UInt8(DW_OP_lit0) && atom <= UInt8(DW_OP_lit31)) { continue }
            let dwarfRegister: Int
            if atom >= UInt8(DW_OP_breg0) && atom <= UInt8(DW_OP_breg31) {
                dwarfRegister = Int(atom - UInt8(DW_OP_breg0))
            } else if position == 0 && rest.isEmpty && atom >= UInt8(DW_OP_reg0) && atom <= UInt8(DW_OP_reg31) {
                dwarfRegister = Int(atom - UInt8(DW_OP_reg0))
            } else {
                return .other // DW_OP_addr (global data), DW_OP_fbreg (its frame), DW_OP_deref, entry values in arithmetic, ...
            }
            guard let register = X86Instruction.register(dwarf: dwarfRegister), calleeSaved.contains(register),
                  !(register == X86Instruction.rbp && op.number != 0) else { return .other } // %rbp plus an offset: the frame
            registers |= X86Instruction.bit(register)
        }
        return registers == 0 ? .constant : .registers(registers)
    }

    /// DWARF operations that compute on the values already on the expression stack (or push a constant).
    private static let arithmetic: Set<UInt8> = Set([DW_OP_plus_uconst, DW_OP_stack_value, DW_OP_plus, DW_OP_minus, DW_OP_mul,
        DW_OP_div, DW_OP_mod, DW_OP_and, DW_OP_or, DW_OP_xor, DW_OP_shl, DW_OP_shr, DW_OP_shra, DW_OP_neg, DW_OP_not, DW_OP_abs,
        DW_OP_constu, DW_OP_consts, DW_OP_const1u, DW_OP_const1s, DW_OP_const2u, DW_OP_const2s, DW_OP_const4u, DW_OP_const4s,
        DW_OP_const8u, DW_OP_const8s].map { UInt8($0) })

    private func operations(of die: inout Dwarf_Die, _ attribute: UInt32) -> [Dwarf_Op]? {
        var attr = Dwarf_Attribute()
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var count = 0
        guard dwarf_attr(&die, attribute, &attr) != nil, dwarf_getlocation(&attr, &ops, &count) == 0, let ops, count > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: ops, count: count))
    }

    private static let callerSavedLanes = Held.everyOrigin(X86Instruction.callerSaved)
    /// Stack arguments of a call sit in its first 64 bytes above %rsp (up to 14 arguments).
    private static let stackArgumentBytes: Int64 = 64

    /// Follows the caller's code from `returnPC`, with each origin's value tracked through registers, flags and
    /// its own stack slots. `read`: bit o when the code reads origin o's value at all; `carried`: bit o when
    /// a data path takes it (or data loaded through it) to the caller's result, a store outside its own stack
    /// frame, another call's arguments, or a system instruction. Branching on it is not a data path.
    /// `stores`: the instructions storing a value outside the frame (nil when the scan gave up).
    private func scan(from returnPC: UInt64, origins: [X86Instruction.Registers], ranges: [(UInt64, UInt64)],
                      callerReturnsValue: Bool) -> (read: UInt8, carried: UInt8, stores: [UInt64]?) {
        let everything: UInt8 = (1 << UInt8(origins.count)) - 1
        guard let (section, code, sectionStart) = file.code(at: returnPC) else { return (everything, everything, nil) }
        let relocated = file.unlinkedRelocations(of: section)
        func inCaller(_ address: UInt64) -> Bool { ranges.contains { address >= $0.0 && address < $0.1 } }

        var read: UInt8 = 0
        var carried: UInt8 = 0
        var stores: Set<UInt64> = []
        var work: [(UInt64, Taint)] = [(returnPC, Taint(held: Held(origins)))]
        var seen: [UInt64: Taint] = [:]
        var budget = Self.maxInstructions
        let argumentBits = X86Instruction.argumentRegisters.reduce(X86Instruction.Registers(0)) { $0 | X86Instruction.bit($1) }
        let returnBits = X86Instruction.bit(X86Instruction.rax) | X86Instruction.bit(X86Instruction.rdx)
        var frameEscapes: Bool?
        /// Whether the caller's code anywhere computes an address in its own frame (then its stack slots can be
        /// read through other registers, and a value stored there counts as carried on).
        func frameAddressTaken() -> Bool {
            if let known = frameEscapes { return known }
            let taken = takesFrameAddress(ranges: ranges)
            frameEscapes = taken
            return taken
        }
        func carry(_ origins: UInt8) { read |= origins; carried |= origins }
        /// Leaving for another function (a call or a tail call): what it receives is carried on.
        func leave(reading registers: X86Instruction.Registers, _ state: Taint) {
            carry(state.held.holders(of: registers))
            if let depth = state.depth {
                carry(state.slots.reduce(0) { $1.key >= depth && $1.key < depth + Self.stackArgumentBytes ? $0 | $1.value : $0 })
            }
        }
        while let (start, initial) = work.popLast() {
            var address = start
            var state = initial
            // Followed to the end even once everything is carried on: the stores are wanted too.
            while true {
                // A point seen with at least this taint adds nothing new.
                if let before = seen[address] {
                    if before.contains(state) { break }
                    guard before.depth == state.depth else { return (everything, everything, nil) }
                    state.formUnion(before)
                }
                seen[address] = state
                budget -= 1
                let local = address &- sectionStart
                guard budget > 0, inCaller(address), local < UInt64(code.count),
                      let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else { return (everything, everything, nil) }
                let next = address + UInt64(instruction.length)
                // A relocated displacement (an unlinked object's call or jump to another section) hides the target.
                // Branch and call displacements are the instruction's last 4 bytes.
                let relocatedTarget = instruction.length >= 5 && !relocated.isEmpty ? relocated[local + UInt64(instruction.length) - 4] : nil
                let hasRelocatedTarget = relocatedTarget != nil
                switch instruction.flow {
                case .call(let target):
                    let through = relocatedTarget.map { symbolThunkRegister($0.symbol).register } ?? thunkRegister(at: target)
                    leave(reading: argumentBits | (through.map(X86Instruction.bit) ?? 0), state)
                    // The last instruction of the function's code: a call that does not return (`__stack_chk_fail`).
                    if !inCaller(next) { break }
                    state.held.bits &= ~Self.callerSavedLanes
                    state.flags = 0
                    address = next; continue
                case .indirectCall:
                    leave(reading: argumentBits | instruction.reads, state)
                    state.held.bits &= ~Self.callerSavedLanes
                    state.flags = 0
                    address = next; continue
                case .ret:
                    if callerReturnsValue { carry(state.held.holders(of: returnBits)) }
                    // Slots at or above the return address are the caller's caller's memory.
                    if let depth = state.depth { carry(state.slots(from: depth)) }
                    break
                case .stop:
                    break
                case .indirectJump:
                    return (everything, everything, nil)
                case .jump(let target):
                    // Out of the function: a tail call, which receives the argument registers (and the register a
                    // retpoline thunk jumps through), or `jmp __x86_return_thunk`, a return: the result registers too.
                    let outOfCaller = argumentBits | (callerReturnsValue ? returnBits : 0)
                    if let symbol = relocatedTarget {
                        // To another function's start: a tail call; to a section (a cold part): not followed.
                        let callee = symbolThunkRegister(symbol.symbol)
                        guard callee.isFunction else { return (everything, everything, nil) }
                        leave(reading: outOfCaller | (callee.register.map(X86Instruction.bit) ?? 0), state)
                        break
                    }
                    if inCaller(target) { work.append((target, state)) } else {
                        leave(reading: outOfCaller | (thunkRegister(at: target).map(X86Instruction.bit) ?? 0), state)
                    }
                case .branch(let target):
                    if hasRelocatedTarget { return (everything, everything, nil) }
                    read |= state.held.holders(of: instruction.reads) | state.flags
                    work.append((target, state))
                    address = next; continue
                case .next:
                    let effect = step(instruction, &state, frameAddressTaken: frameAddressTaken)
                    read |= effect.read
                    carry(effect.carried)
                    if effect.storedOut { stores.insert(address) }
                    // A ud2 ending the function's code is a BUG(): nothing runs after it.
                    if instruction.trap && !inCaller(next) { break }
                    address = next; continue
                }
                break
            }
            if budget <= 0 { return (everything, everything, nil) }
        }
        return (read, carried, stores.sorted())
    }

    /// One instruction that falls through: where the origins it reads go.
    /// `storedOut`: it stores a value outside the caller's stack slots.
    private func step(_ instruction: X86Instruction, _ state: inout Taint,
                      frameAddressTaken: () -> Bool) -> (read: UInt8, carried: UInt8, storedOut: Bool) {
        var carried: UInt8 = 0
        var storedOut = false
        func carry(_ origins: UInt8) { carried |= origins }
        let rsp = X86Instruction.rsp
        let memory = instruction.memory
        let addressRegisters = (memory?.base.map(X86Instruction.bit) ?? 0) | (memory?.index.map(X86Instruction.bit) ?? 0)
        // A slot of the caller's own frame: %rsp-based, no index, no segment, while %rsp is known.
        let slot: Int64? = memory.flatMap { memory in
            guard memory.base == rsp, memory.index == nil, memory.segment == nil, let depth = state.depth else { return nil }
            return depth + memory.displacement
        }
        // What a load brings: a slot's origins, or (through an address computed from an origin) data of that object.
        var loaded: UInt8 = 0
        if let memory, memory.isLoad { loaded = slot.map { state.slot(at: $0) } ?? state.held.holders(of: addressRegisters) }
        // pop: the slot at the top of the stack.
        if let delta = instruction.stackDelta, delta > 0, let depth = state.depth { loaded |= state.slot(at: depth) }
        let flagsRead = instruction.readsFlags ? state.flags : 0
        let sources = state.held.holders(of: instruction.reads) | loaded | flagsRead
        if instruction.system { carry(sources) }
        if let memory, memory.isStore {
            let data = state.held.holders(of: (instruction.reads & ~addressRegisters) | (memory.storedRegister.map(X86Instruction.bit) ?? 0))
                | (memory.isLoad ? loaded : 0) | flagsRead
            if data != 0 {
                if let slot, !frameAddressTaken() { state.slots[slot, default: 0] |= data } else { carry(data); storedOut = slot == nil }
            }
        }
        // push: the pushed value goes into the new top slot.
        if let delta = instruction.stackDelta, delta < 0, let depth = state.depth {
            let pushed = state.held.holders(of: instruction.reads & ~X86Instruction.bit(rsp)) | loaded | flagsRead
            if pushed != 0 {
                if frameAddressTaken() { carry(pushed) } else { state.slots[depth + delta, default: 0] |= pushed }
            }
        }
        // Registers written: a full write holds exactly what the sources held; a partial one adds it.
        let written = (instruction.writes | instruction.partialWrites) & ~X86Instruction.bit(rsp)
        state.held.bits &= ~Held.everyOrigin(instruction.writes)
        state.held.add(sources, to: written)
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

    private var frameAddressCache: [UInt64: Bool] = [:]

    /// Whether the code in `ranges` computes an address from %rsp (`lea` off %rsp, a copy of it): its frame's
    /// slots may then be read or written through other registers. Code that does not decode counts as doing so.
    private func takesFrameAddress(ranges: [(UInt64, UInt64)]) -> Bool {
        guard let first = ranges.first?.0 else { return true }
        if let known = frameAddressCache[first] { return known }
        var taken = false
        let rsp = X86Instruction.bit(X86Instruction.rsp)
        scanning: for (low, high) in ranges {
            guard let (_, code, sectionStart) = file.code(at: low) else { taken = true; break }
            var address = low
            while address < high {
                let local = address &- sectionStart
                guard local < UInt64(code.count), let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else {
                    taken = true; break scanning
                }
                // %rsp read as a value: not only as a memory operand's base, a push/pop, an add/sub of a constant.
                if instruction.reads & rsp != 0, instruction.stackDelta == nil, instruction.flow == .next {
                    let onlyAddress = instruction.memory.map { memory in
                        (memory.base == X86Instruction.rsp || memory.index == X86Instruction.rsp) && memory.storedRegister != X86Instruction.rsp
                    } ?? false
                    if !onlyAddress { taken = true; break scanning }
                }
                address += UInt64(instruction.length)
            }
        }
        frameAddressCache[first] = taken
        return taken
    }

    private var symbolCache: [UInt32: (register: Int?, isFunction: Bool)] = [:]

    /// In an unlinked object, from a relocation's symbol: the register a call through a retpoline thunk uses
    /// (nil for an ordinary call), and whether the symbol is a function (a jump to it is a tail call).
    private func symbolThunkRegister(_ index: UInt32) -> (register: Int?, isFunction: Bool) {
        if let known = symbolCache[index] { return known }
        var symbol = GElf_Sym()
        var address: GElf_Addr = 0
        var shndx: GElf_Word = 0
        var symbolElf: OpaquePointer?
        var symbolBias: Dwarf_Addr = 0
        var result: (register: Int?, isFunction: Bool) = (X86Instruction.rax, false)
        if let name = dwfl_module_getsym_info(file.module, Int32(index), &symbol, &address, &shndx, &symbolElf, &symbolBias) {
            let isFunction = symbol.st_info & 0xf == UInt8(STT_FUNC) || (symbol.st_info & 0xf == UInt8(STT_NOTYPE) && symbol.st_shndx == 0)
            result = (Self.thunkRegister(named: String(cString: name)), isFunction)
        }
        symbolCache[index] = result
        return result
    }

    private static let registerNames = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

    /// The register a retpoline thunk (`__x86_indirect_thunk_r11`) calls through; nil for any other function.
    private static func thunkRegister(named name: String) -> Int? {
        guard name.hasPrefix("__x86_indirect_thunk_") || name.hasPrefix("__x86_indirect_call_thunk_") else { return nil }
        return registerNames.firstIndex(of: String(name.split(separator: "_").last ?? "")) ?? X86Instruction.rax
    }

    /// In a linked file: the register a call to `target` reads when `target` is a retpoline thunk.
    private func thunkRegister(at target: UInt64) -> Int? {
        if thunkRegisterByAddress == nil { thunkRegisterByAddress = thunks() }
        return thunkRegisterByAddress?[target + file.bias]
    }

    /// What every thunk's name starts with, compared before a name is made into a String.
    private static let thunkPrefix = Array("__x86_indirect_".utf8CString.dropLast())

    /// The retpoline thunks' libdwfl addresses, in one pass over the symbol table (looking each call
    /// target up by address instead walks the whole table per target in libdwfl).
    private func thunks() -> [UInt64: Int] {
        var found: [UInt64: Int] = [:]
        let count = dwfl_module_getsymtab(file.module)
        guard count > 0 else { return found }
        for i in 0..<count {
            var symbol = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var symbolElf: OpaquePointer?
            var symbolBias: Dwarf_Addr = 0
            guard let cName = dwfl_module_getsym_info(file.module, i, &symbol, &address, &shndx, &symbolElf, &symbolBias),
                  Self.thunkPrefix.indices.allSatisfy({ cName[$0] == Self.thunkPrefix[$0] }), let register = Self.thunkRegister(named: String(cString: cName)) else { continue }
            found[address] = register
        }
        return found
    }
}
