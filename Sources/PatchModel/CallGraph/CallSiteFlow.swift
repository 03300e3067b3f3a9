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
    /// bits 44-49: argument i carried on; bit 50: the result, bits 51-56: argument i, carried on other than as
    /// the caller's own result (to memory, to another call).
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The caller reads %rax after the call before overwriting it (or the code could not be followed).
    public static let resultUsed = CallSiteFlow(rawValue: 1)
    /// The result (or something computed from it) reaches the caller's own result, memory outside its frame, or
    /// another call: the caller can hand it on.
    public static let resultCarriedOn = CallSiteFlow(rawValue: 1 << 7)
    /// Every channel kept and carried on: inlined bodies and tail calls (the callee's result is the caller's), unknown code.
    public static let keepsEverything = CallSiteFlow(rawValue: 0xff | 0x3f << 44 | 0x7f << 50)
    public static let keepsNothing = CallSiteFlow(rawValue: 0)

    /// Argument `index` (0-5: %rdi, %rsi, %rdx, %rcx, %r8, %r9) is still held by the caller after the call: in a
    /// register it reads afterwards, in its own frame, in global data, or the DWARF does not say where.
    public static func argumentKept(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 2 << UInt64(index)) }
    /// What argument `index` points to can reach the caller's result, memory outside its frame or another call.
    public static func argumentCarriedOn(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 1 << UInt64(44 + index)) }
    /// The result goes on other than as the caller's own result: to memory outside its frame or another call.
    public static let resultCarriedElsewhere = CallSiteFlow(rawValue: 1 << 50)
    /// What argument `index` points to goes on other than as the caller's own result.
    public static func argumentCarriedElsewhere(_ index: Int) -> CallSiteFlow { CallSiteFlow(rawValue: 1 << UInt64(51 + index)) }
    /// Argument `index` is the caller's own parameter `parameter` (an entry value), not kept in the caller.
    public static func argumentHandedOn(_ index: Int, asParameter parameter: Int) -> CallSiteFlow {
        CallSiteFlow(rawValue: 1 << UInt64(8 + 6 * index + parameter))
    }

    public var usesResult: Bool { rawValue & 1 != 0 }
    public var carriesResultOn: Bool { rawValue & (1 << 7) != 0 }
    public func keepsArgument(_ index: Int) -> Bool { rawValue & (2 << UInt64(index)) != 0 }
    public func carriesArgumentOn(_ index: Int) -> Bool { rawValue & (1 << UInt64(44 + index)) != 0 }
    public var carriesResultElsewhere: Bool { rawValue & (1 << 50) != 0 }
    public func carriesArgumentElsewhere(_ index: Int) -> Bool { rawValue & (1 << UInt64(51 + index)) != 0 }
    /// Bits 0-5: the arguments kept.
    public var keptArguments: UInt8 { UInt8((rawValue >> 1) & 0x3f) }
    /// The caller's parameters (bits 0-5) that argument `index` hands on.
    public func handedOn(_ index: Int) -> UInt8 { UInt8((rawValue >> UInt64(8 + 6 * index)) & 0x3f) }

    public mutating func formUnion(_ other: CallSiteFlow) { rawValue |= other.rawValue }

    /// Through which channels a value the callee hands back through `channels` leaves the caller, given
    /// the caller's own prototype; nil when it does not come into the caller at all, empty when it comes in
    /// and stops there (the caller consumes it).
    /// Carried on by the caller's code to memory or another call: every channel of the caller; only into its own
    /// result: that. Only handed on as the caller's own parameter: that parameter.
    public func channels(into caller: FunctionSignature, from channels: ValueChannels) -> ValueChannels? {
        if channels.contains(.unknown) { return caller.channels }
        var comesIn = channels.contains(.result) && usesResult
        var carried = channels.contains(.result) && carriesResultOn
        var elsewhere = channels.contains(.result) && carriesResultElsewhere
        var handed = ValueChannels()
        for index in 0..<6 where channels.contains(.argument(index)) {
            if keepsArgument(index) { comesIn = true }
            if carriesArgumentOn(index) { carried = true }
            if carriesArgumentElsewhere(index) { elsewhere = true }
            // Handed on as a parameter the caller's prototype lets it write through (a const one is trusted as the compiler does).
            for parameter in 0..<6 where handedOn(index) & (1 << UInt8(parameter)) != 0
                && (caller.unknownChannels || caller.writableArguments & (1 << UInt8(parameter)) != 0) {
                handed.insert(.argument(parameter))
            }
        }
        if elsewhere { return caller.channels.union(handed) }
        if carried { return caller.channels.intersection(.result).union(handed) }
        if comesIn { return handed }
        return handed.isEmpty ? nil : handed
    }

    public var description: String {
        var kept: [String] = []
        if usesResult {
            kept.append(carriesResultElsewhere ? "carries the result on" : carriesResultOn ? "returns the result" : "reads the result (and consumes it)")
        }
        let arguments = (0..<6).filter(keepsArgument).map { index in
            "argument \(index + 1)" + (carriesArgumentElsewhere(index) ? " (carried on)" : carriesArgumentOn(index) ? " (returned)" : " (consumed)")
        }
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

/// What a call site's flow needs of the function whose code makes the call (the outermost subprogram).
struct CallerFunction {
    var entry: UInt64
    /// Its code (hot and cold parts), DWARF addresses.
    var ranges: [(UInt64, UInt64)]
    var returnsValue: Bool
    /// Its formal parameter DIEs, in order (where it keeps them after a call).
    var parameters: [Dwarf_Die]
    /// What each of its calls passes, by return address (inlined bodies' calls included).
    var calls: [UInt64: CallArguments]
    /// DW_AT_frame_base is the CFA (%rsp at entry plus 8): what `DW_OP_fbreg` counts from.
    var frameBaseIsCFA: Bool
}

/// Reads the call-site flow of the calls of one file's functions.
final class CallSiteFlowReader {
    let file: DwarfFile
    /// The thunks by their libdwfl address (linked files); read on first use.
    private var thunkByAddress: [UInt64: Thunk]?
    /// Frame layouts by function entry (`frameLayout(entry:ranges:calls:)`).
    var frameLayouts: [UInt64: FrameLayout] = [:]
    static let maxInstructions = 400
    private static let calleeSaved: Set<Int> = [3, 5, 12, 13, 14, 15]

    init(file: DwarfFile) {
        self.file = file
    }

    /// The flow at the call site `callSite` (a DW_TAG_call_site of a call; `tailCallFlow` for a tail call), made by
    /// `caller`. Also returns the addresses of the caller's stores of what it keeps (data computed from it) outside
    /// its own frame (nil when the scan could not follow its code to the end), and the arguments (bits 0-5) it keeps
    /// in memory, whose later loads are not followed.
    func flow(at callSite: inout Dwarf_Die, caller: inout CallerFunction, channels: FunctionSignature = .unknown,
              resultIsBool: Bool = false) -> (flow: CallSiteFlow, stores: [UInt64]?, unfollowed: UInt8) {
        var attr = Dwarf_Attribute()
        var returnPC: Dwarf_Addr = 0
        guard dwarf_attr(&callSite, DwarfAttribute.callReturnPC, &attr) != nil, dwarf_formaddr(&attr, &returnPC) == 0
        else { return (.keepsEverything, nil, 0x3f) }
        // Origins of the values followed: 0 the result (%rax), 1...6 the arguments held in callee-saved registers
        // or objects in the caller's frame. An argument the DWARF gives no value for is not held by the caller in any
        // register or slot GCC could name after the call: it counts as not kept (docs/KTHREAD-SAFETY.md, "Following
        // the value").
        var kept = CallSiteFlow.keepsNothing
        var handedOn = CallSiteFlow.keepsNothing
        var unfollowed: UInt8 = 0
        var start = ScanStart(origins: Array(repeating: 0, count: 7), objects: [], frame: nil, resultIsBool: resultIsBool)
        if channels.returnsValue || channels.unknownChannels { start.origins[0] = X86Instruction.bit(X86Instruction.rax) }
        func notFollowed(_ index: Int) {
            kept.formUnion(.argumentKept(index)); kept.formUnion(.argumentCarriedOn(index)); kept.formUnion(.argumentCarriedElsewhere(index))
            unfollowed |= 1 << UInt8(index)
        }
        let writable = channels.unknownChannels ? 0x3f : channels.writableArguments
        // The frame, followed from the function's entry: where its objects are at the return address.
        let layout = frameLayout(entry: caller.entry, ranges: caller.ranges, calls: caller.calls).atReturn(returnPC)
        start.frame = layout?.frame
        /// An object of the caller's own frame at `first` (from %rsp at the return address): its bytes are followed.
        /// Its size from the callee's prototype; not known (`void *`): up to the return address.
        func follow(_ index: Int, at first: Int64?) {
            guard let layout, let first else { return notFollowed(index) }
            let size = (caller.calls[returnPC] ?? .unknown).pointeeSize(ofArgument: index).map(Int64.init) ?? (-layout.depth - first)
            guard size > 0 else { return notFollowed(index) }
            start.objects.append((index + 1, first ..< first + size))
        }
        for (index, value) in parameterValues(of: &callSite) where writable & (1 << UInt8(index)) != 0 {
            switch value {
            case .constant: break
            case .registers(let registers): start.origins[index + 1] = registers
            case .entryValue(let parameter):
                handedOn.formUnion(.argumentHandedOn(index, asParameter: parameter))
                // Where the caller itself still has that parameter after the call: there it may use the object too.
                switch parameter < caller.parameters.count ? location(of: &caller.parameters[parameter], at: returnPC) : .other {
                case .registers(let registers): start.origins[index + 1] = registers
                case .other, .frameObject, .stackObject: notFollowed(index)
                case .constant, .entryValue: break
                }
            case .frameObject(let offset):
                // From the CFA: %rsp at entry plus 8, `-depth` bytes above %rsp at the return address.
                follow(index, at: caller.frameBaseIsCFA ? layout.map { 8 + offset - $0.depth } : nil)
            case .stackObject(let offset):
                follow(index, at: offset)
            // In memory: where the caller reads it from afterwards is not followed.
            case .other: notFollowed(index)
            }
        }
        let scanned = start.origins.allSatisfy({ $0 == 0 }) && start.objects.isEmpty ? ScanResult(read: 0, carried: 0, elsewhere: 0, stores: [])
            : scan(from: returnPC, start: start, caller: caller)
        var result = kept
        result.formUnion(handedOn)
        if scanned.read & 1 != 0 { result.formUnion(.resultUsed) }
        if scanned.carried & 1 != 0 { result.formUnion(.resultCarriedOn) }
        if scanned.elsewhere & 1 != 0 { result.formUnion(.resultCarriedElsewhere) }
        for index in 0..<6 where start.origins[index + 1] != 0 || start.objects.contains(where: { $0.origin == index + 1 }) {
            if scanned.read & (1 << (index + 1)) != 0 { result.formUnion(.argumentKept(index)) }
            if scanned.carried & (1 << (index + 1)) != 0 { result.formUnion(.argumentCarriedOn(index)) }
            if scanned.elsewhere & (1 << (index + 1)) != 0 { result.formUnion(.argumentCarriedElsewhere(index)) }
        }
        return (result, scanned.stores, unfollowed)
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
            case .registers, .frameObject, .stackObject, .other, nil:
                flow.formUnion(.argumentKept(index)); flow.formUnion(.argumentCarriedOn(index)); flow.formUnion(.argumentCarriedElsewhere(index))
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
        /// The address of an object in the caller's frame: `DW_OP_fbreg` (from the frame base) ...
        case frameObject(Int64)
        /// ... or `DW_OP_breg7` (from %rsp at the call).
        case stackObject(Int64)
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
        // An object in the frame: its address alone.
        if rest.allSatisfy({ $0.atom == UInt8(DW_OP_stack_value) }) {
            if atom == UInt8(DW_OP_fbreg) { return .frameObject(Int64(bitPattern: first.number)) }
            if atom == UInt8(DW_OP_breg7) { return .stackObject(Int64(bitPattern: first.number)) }
        }
        // Arithmetic on constants and callee-saved registers (a size, an element's address) is held in those
        // registers; a load from memory (deref), the frame plus arithmetic (%rbp plus an offset) or global data is not.
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

    /// In an unlinked object, the relocation hiding a branch's or call's target: on its displacement, the
    /// instruction's last 4 bytes (nil in a linked file, or for an instruction too short to have one).
    static func relocatedTarget(of instruction: X86Instruction, at local: UInt64,
                                in relocated: [UInt64: DwarfFile.UnlinkedRelocation]) -> DwarfFile.UnlinkedRelocation? {
        instruction.length >= 5 && !relocated.isEmpty ? relocated[local + UInt64(instruction.length) - 4] : nil
    }

    /// The compiler's thunks: a retpoline (`__x86_indirect_thunk_r11` calls or jumps through %r11), or the return
    /// thunk (`jmp __x86_return_thunk` is a `ret`).
    enum Thunk: Equatable {
        case indirect(register: Int)
        case returns

        var register: Int? { if case .indirect(let register) = self { return register } else { return nil } }
    }

    private var symbolCache: [UInt32: (thunk: Thunk?, isFunction: Bool)] = [:]

    /// In an unlinked object, from a relocation's symbol: the thunk it is (nil for an ordinary function), and
    /// whether the symbol is a function (a jump to it is a tail call).
    func symbolThunk(_ index: UInt32) -> (thunk: Thunk?, isFunction: Bool) {
        if let known = symbolCache[index] { return known }
        var symbol = GElf_Sym()
        var address: GElf_Addr = 0
        var shndx: GElf_Word = 0
        var symbolElf: OpaquePointer?
        var symbolBias: Dwarf_Addr = 0
        var result: (thunk: Thunk?, isFunction: Bool) = (.indirect(register: X86Instruction.rax), false)
        if let name = dwfl_module_getsym_info(file.module, Int32(index), &symbol, &address, &shndx, &symbolElf, &symbolBias) {
            let isFunction = symbol.st_info & 0xf == UInt8(STT_FUNC) || (symbol.st_info & 0xf == UInt8(STT_NOTYPE) && symbol.st_shndx == 0)
            result = (Self.thunk(named: String(cString: name)), isFunction)
        }
        symbolCache[index] = result
        return result
    }

    private static let registerNames = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

    /// The thunk a function is, by name; nil for any other function.
    private static func thunk(named name: String) -> Thunk? {
        if name == "__x86_return_thunk" { return .returns }
        guard name.hasPrefix("__x86_indirect_thunk_") || name.hasPrefix("__x86_indirect_call_thunk_") else { return nil }
        return .indirect(register: registerNames.firstIndex(of: String(name.split(separator: "_").last ?? "")) ?? X86Instruction.rax)
    }

    /// In a linked file: the thunk at `target`, if it is one.
    func thunk(at target: UInt64) -> Thunk? {
        if thunkByAddress == nil { thunkByAddress = thunks() }
        return thunkByAddress?[target + file.bias]
    }

    /// What every thunk's name starts with, compared before a name is made into a String.
    private static let thunkPrefix = Array("__x86_".utf8CString.dropLast())

    /// The thunks' libdwfl addresses, in one pass over the symbol table (looking each call target up by
    /// address instead walks the whole table per target in libdwfl).
    private func thunks() -> [UInt64: Thunk] {
        var found: [UInt64: Thunk] = [:]
        let count = dwfl_module_getsymtab(file.module)
        guard count > 0 else { return found }
        for i in 0..<count {
            var symbol = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var symbolElf: OpaquePointer?
            var symbolBias: Dwarf_Addr = 0
            guard let cName = dwfl_module_getsym_info(file.module, i, &symbol, &address, &shndx, &symbolElf, &symbolBias),
                  Self.thunkPrefix.indices.allSatisfy({ cName[$0] == Self.thunkPrefix[$0] }), let thunk = Self.thunk(named: String(cString: cName)) else { continue }
            found[address] = thunk
        }
        return found
    }
}
