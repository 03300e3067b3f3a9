import CElf

/// What a caller does, after one call returns, with what the callee can hand
/// back: its result in %rax, and the objects it passed by pointer (which the
/// callee may have written). Read from the caller's machine code and the call
/// site's DWARF parameters, per call site; merged per (caller, callee) edge.
/// Where the code or the DWARF cannot tell, the value counts as kept.
public struct CallSiteFlow: Equatable, Sendable, CustomStringConvertible {
    /// Bit 0: result used; bits 1-6: argument i kept by the caller itself; bit 8 + 6 * i + j: argument i is
    /// the caller's own parameter j, handed on (the object is its caller's).
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The caller reads %rax after the call before overwriting it (or the code could not be followed).
    public static let resultUsed = CallSiteFlow(rawValue: 1)
    /// Every channel kept: inlined bodies and tail calls (the callee's result is the caller's), unknown code.
    public static let keepsEverything = CallSiteFlow(rawValue: 0x7f)
    public static let keepsNothing = CallSiteFlow(rawValue: 0)

    /// Argument `index` (0-5: %rdi, %rsi, %rdx, %rcx, %r8, %r9) is still held by the caller after the call: in a
    /// register it reads afterwards, in its own frame, in global data, or the DWARF does not say where.
    public static func argumentKept(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 2 << UInt64(index)) }
    /// Argument `index` is the caller's own parameter `parameter` (an entry value), not kept in the caller.
    public static func argumentHandedOn(_ index: Int, asParameter parameter: Int) -> CallSiteFlow {
        CallSiteFlow(rawValue: 1 << UInt64(8 + 6 * index + parameter))
    }

    public var usesResult: Bool { rawValue & 1 != 0 }
    public func keepsArgument(_ index: Int) -> Bool { rawValue & (2 << UInt64(index)) != 0 }
    /// Bits 0-5: the arguments kept.
    public var keptArguments: UInt8 { UInt8((rawValue >> 1) & 0x3f) }
    /// The caller's parameters (bits 0-5) that argument `index` hands on.
    public func handedOn(_ index: Int) -> UInt8 { UInt8((rawValue >> UInt64(8 + 6 * index)) & 0x3f) }

    public mutating func formUnion(_ other: CallSiteFlow) { rawValue |= other.rawValue }

    /// Through which channels a value the callee hands back through `channels` leaves the caller, given
    /// the caller's own prototype; nil when it does not come into the caller at all.
    /// Kept by the caller itself (its result read, an argument kept): every channel of the caller. Only handed
    /// on as the caller's own parameter: that parameter.
    public func channels(into caller: FunctionSignature, from channels: ValueChannels) -> ValueChannels? {
        if channels.contains(.unknown) { return caller.channels }
        var kept = channels.contains(.result) && usesResult
        var handed = ValueChannels()
        for index in 0..<6 where channels.contains(.argument(index)) {
            if keepsArgument(index) { kept = true }
            // Handed on as a parameter the caller's prototype lets it write through (a const one is trusted as the compiler does).
            for parameter in 0..<6 where handedOn(index) & (1 << UInt8(parameter)) != 0
                && (caller.unknownChannels || caller.writableArguments & (1 << UInt8(parameter)) != 0) {
                handed.insert(.argument(parameter))
            }
        }
        if kept { return caller.channels.union(handed) }
        return handed.isEmpty ? nil : handed
    }

    public var description: String {
        var kept: [String] = []
        if usesResult { kept.append("reads the result") }
        let arguments = (0..<6).filter(keepsArgument).map { "argument \($0 + 1)" }
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

    /// The flow at the call site `callSite` (a DW_TAG_call_site of a call, not a tail call), made by the
    /// function with code ranges `ranges` (DWARF addresses), which returns a value or not.
    /// `parameters`: the caller's formal parameter DIEs, in order (for where it keeps them after the call).
    func flow(at callSite: inout Dwarf_Die, ranges: [(UInt64, UInt64)], callerReturnsValue: Bool,
              parameters: inout [Dwarf_Die], channels: FunctionSignature = .unknown) -> CallSiteFlow {
        var attr = Dwarf_Attribute()
        var returnPC: Dwarf_Addr = 0
        guard dwarf_attr(&callSite, DwarfAttribute.callReturnPC, &attr) != nil, dwarf_formaddr(&attr, &returnPC) == 0
        else { return .keepsEverything }
        // Origins of the values followed: 0 the result (%rax), 1...6 the arguments held in callee-saved registers.
        // An argument the DWARF gives no value for is not held by the caller in any register or slot GCC could name
        // after the call: it counts as not kept (docs/KTHREAD-SAFETY.md, "Following the value").
        var kept = CallSiteFlow.keepsNothing
        var handedOn = CallSiteFlow.keepsNothing
        var origins: [X86Instruction.Registers] = Array(repeating: 0, count: 7)
        if channels.returnsValue || channels.unknownChannels { origins[0] = X86Instruction.bit(X86Instruction.rax) }
        let writable = channels.unknownChannels ? 0x3f : channels.writableArguments
        for (index, value) in parameterValues(of: &callSite) where writable & (1 << UInt8(index)) != 0 {
            switch value {
            case .constant: break
            case .register(let register): origins[index + 1] = X86Instruction.bit(register)
            case .entryValue(let parameter):
                handedOn.formUnion(.argumentHandedOn(index, asParameter: parameter))
                // Where the caller itself still has that parameter after the call: there it may use the object too.
                switch parameter < parameters.count ? location(of: &parameters[parameter], at: returnPC) : .other {
                case .register(let register): origins[index + 1] = X86Instruction.bit(register)
                case .other: kept.formUnion(.argumentKept(index))
                case .constant, .entryValue: break
                }
            case .other: kept.formUnion(.argumentKept(index))
            }
        }
        let used = origins.allSatisfy({ $0 == 0 }) ? 0
            : scan(from: returnPC, origins: origins, ranges: ranges, callerReturnsValue: callerReturnsValue)
        var result = kept
        result.formUnion(handedOn)
        if used & 1 != 0 { result.formUnion(.resultUsed) }
        for index in 0..<6 where origins[index + 1] != 0 && used & (1 << (index + 1)) != 0 {
            result.formUnion(.argumentKept(index))
        }
        return result
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
        return .register(register)
    }

    private enum ParameterValue {
        case constant
        /// Held in this callee-saved register (encoding number) across the call.
        case register(Int)
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
        // Arithmetic on a constant or a register keeps its kind; a load from memory (deref) does not.
        let plain = rest.allSatisfy { [UInt8(DW_OP_plus_uconst), UInt8(DW_OP_stack_value), UInt8(DW_OP_plus), UInt8(DW_OP_minus),
                                       UInt8(DW_OP_constu), UInt8(DW_OP_consts)].contains($0.atom) || ($0.atom >= UInt8(DW_OP_lit0) && $0.atom <= UInt8(DW_OP_lit31)) }
        guard plain else { return .other }
        if (atom >= UInt8(DW_OP_lit0) && atom <= UInt8(DW_OP_lit31))
            || [UInt8(DW_OP_const1u), UInt8(DW_OP_const1s), UInt8(DW_OP_const2u), UInt8(DW_OP_const2s), UInt8(DW_OP_const4u),
                UInt8(DW_OP_const4s), UInt8(DW_OP_const8u), UInt8(DW_OP_const8s), UInt8(DW_OP_constu), UInt8(DW_OP_consts)].contains(atom) {
            return .constant
        }
        let dwarfRegister: Int
        if atom >= UInt8(DW_OP_breg0) && atom <= UInt8(DW_OP_breg31) {
            dwarfRegister = Int(atom - UInt8(DW_OP_breg0))
        } else if atom >= UInt8(DW_OP_reg0) && atom <= UInt8(DW_OP_reg31) {
            dwarfRegister = Int(atom - UInt8(DW_OP_reg0))
        } else {
            return .other // DW_OP_addr (global data), DW_OP_fbreg (its frame), entry values (its caller's), ...
        }
        guard let register = X86Instruction.register(dwarf: dwarfRegister), calleeSaved.contains(register) else { return .other }
        // %rbp as a frame pointer addresses the caller's own frame.
        return register == X86Instruction.rbp && first.number != 0 ? .other : .register(register)
    }

    private func operations(of die: inout Dwarf_Die, _ attribute: UInt32) -> [Dwarf_Op]? {
        var attr = Dwarf_Attribute()
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var count = 0
        guard dwarf_attr(&die, attribute, &attr) != nil, dwarf_getlocation(&attr, &ops, &count) == 0, let ops, count > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: ops, count: count))
    }

    /// The registers holding each origin's value, packed: origin o's `X86Instruction.Registers` in bits 16o..16o+15
    /// (a fixed-size value: the scan keeps one per visited address without allocating).
    private struct Held: Equatable {
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
            var found: UInt8 = 0
            for o in 0..<Self.origins where registers(of: o) & wanted != 0 { found |= 1 << UInt8(o) }
            return found
        }

        func contains(_ other: Held) -> Bool { bits | other.bits == bits }
    }

    private static let callerSavedLanes = Held.everyOrigin(X86Instruction.callerSaved)

    /// Follows the caller's code from `returnPC`: which origins' values are read (bit o for origin o).
    private func scan(from returnPC: UInt64, origins: [X86Instruction.Registers], ranges: [(UInt64, UInt64)],
                      callerReturnsValue: Bool) -> UInt8 {
        let everything: UInt8 = (1 << UInt8(origins.count)) - 1
        guard let (section, code, sectionStart) = file.code(at: returnPC) else { return everything }
        let relocated = relocatedOffsets(of: section)
        func inCaller(_ address: UInt64) -> Bool { ranges.contains { address >= $0.0 && address < $0.1 } }

        var used: UInt8 = 0
        var work: [(UInt64, Held)] = [(returnPC, Held(origins))]
        var seen: [UInt64: Held] = [:]
        var budget = Self.maxInstructions
        let argumentBits = X86Instruction.argumentRegisters.reduce(X86Instruction.Registers(0)) { $0 | X86Instruction.bit($1) }
        func use(_ registers: X86Instruction.Registers, _ state: Held) { used |= state.holders(of: registers) }
        while let (start, initial) = work.popLast() {
            var address = start
            var state = initial
            while used != everything {
                // A point seen with at least these registers held adds nothing new.
                if let before = seen[address] {
                    if before.contains(state) { break }
                    seen[address]!.bits |= state.bits
                } else {
                    seen[address] = state
                }
                budget -= 1
                let local = address &- sectionStart
                guard budget > 0, inCaller(address), local < UInt64(code.count),
                      let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else { return everything }
                let next = address + UInt64(instruction.length)
                // A relocated displacement (an unlinked object's call or jump to another section) hides the target.
                // Branch and call displacements are the instruction's last 4 bytes.
                let relocatedTarget = instruction.length >= 5 && !relocated.isEmpty ? relocated[local + UInt64(instruction.length) - 4] : nil
                let hasRelocatedTarget = relocatedTarget != nil
                switch instruction.flow {
                case .call(let target):
                    let through = relocatedTarget.map { symbolThunkRegister($0.symbol).register } ?? thunkRegister(at: target)
                    use(argumentBits | (through.map(X86Instruction.bit) ?? 0), state)
                    state.bits &= ~Self.callerSavedLanes
                    address = next; continue
                case .indirectCall:
                    use(argumentBits | instruction.reads, state)
                    state.bits &= ~Self.callerSavedLanes
                    address = next; continue
                case .ret:
                    if callerReturnsValue { use(X86Instruction.bit(X86Instruction.rax), state) }
                    break
                case .stop:
                    break
                case .indirectJump:
                    return everything
                case .jump(let target):
                    if let symbol = relocatedTarget {
                        // To another function's start: a tail call; to a section (a cold part): not followed.
                        guard symbolThunkRegister(symbol.symbol).isFunction else { return everything }
                        use(argumentBits, state)
                        break
                    }
                    if inCaller(target) { work.append((target, state)) } else {
                        // A tail call: it receives the argument registers, and returns its own result.
                        use(argumentBits, state)
                    }
                case .branch(let target):
                    if hasRelocatedTarget { return everything }
                    use(instruction.reads, state)
                    work.append((target, state))
                    address = next; continue
                case .next:
                    var reads = instruction.reads
                    if let move = instruction.registerMove { reads &= ~X86Instruction.bit(move.from) }
                    use(reads, state)
                    // A register move copies each origin held in its source into its destination.
                    let copied = instruction.registerMove.map { state.holders(of: X86Instruction.bit($0.from)) } ?? 0
                    state.bits &= ~Held.everyOrigin(instruction.writes)
                    if copied != 0, let move = instruction.registerMove {
                        for o in 0..<Held.origins where copied & (1 << UInt8(o)) != 0 {
                            state.bits |= UInt128(X86Instruction.bit(move.to)) << UInt128(16 * o)
                        }
                    }
                    address = next; continue
                }
                break
            }
            if budget <= 0 { return everything }
        }
        return used
    }

    private var relocatedCache: [UInt: [UInt64: DwarfFile.UnlinkedRelocation]] = [:]

    private func relocatedOffsets(of section: OpaquePointer) -> [UInt64: DwarfFile.UnlinkedRelocation] {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(section)))
        if let known = relocatedCache[key] { return known }
        let found = file.unlinkedRelocations(of: section)
        relocatedCache[key] = found
        return found
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
