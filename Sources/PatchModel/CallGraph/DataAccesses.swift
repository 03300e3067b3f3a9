import CElf

/// A piece of static or global data as code addresses it directly.
public struct DataAddress: Hashable, Sendable {
    public enum Space: UInt8, Sendable {
        /// An address in the analysed file's layout (a linked file's, or libdwfl's for an object).
        case file
        /// A per-CPU offset (`%gs:`).
        case perCPU
        /// A symbol the object does not define (another module's or vmlinux's data): `symbol` names it.
        case undefined
    }

    public var space: Space
    public var address: UInt64
    public var symbol: String?

    public init(space: Space, address: UInt64, symbol: String?) {
        self.space = space
        self.address = address
        self.symbol = symbol
    }
}

/// The static and global data a function's own code (what is inlined into it included) reads and
/// writes directly: through an absolute or `%rip`-relative address, a per-CPU `%gs:` offset, or a
/// global array indexed by a register. Data reached through pointers is not seen.
public struct DataAccesses: Sendable {
    public var reads: Set<DataAddress> = []
    public var writes: Set<DataAddress> = []
    /// False when some instruction could not be decoded: then more may be read or written.
    public var complete = true

    public init() {}
}

/// Reads functions' direct data accesses from one file's machine code.
public final class DataAccessReader {
    private let file: DwarfFile
    private var cache: [[UInt64]: DataAccesses] = [:]

    public init(path: String) throws {
        file = try DwarfFile(path: path)
    }

    /// The accesses of the code in `ranges` (DWARF addresses, as `CallGraph.ranges(of:)` gives them).
    public func accesses(ranges: [(UInt64, UInt64)]) -> DataAccesses {
        let key = ranges.flatMap { [$0.0, $0.1] }
        if let known = cache[key] { return known }
        var result = DataAccesses()
        // A function with no code of its own (inlined everywhere) is decoded as part of its callers.
        for (low, high) in ranges {
            guard let (section, code, start) = file.code(at: low) else { result.complete = false; continue }
            // Init code (.init.text) is freed once boot or the module's init is over: it writes nothing a patch meets.
            if file.sectionName(section)?.hasPrefix(".init.") == true { continue }
            let relocated = file.unlinkedRelocations(of: section)
            var address = low
            while address < high {
                let local = address &- start
                guard local < UInt64(code.count), let instruction = X86Decoder.decode(code, offset: Int(local), address: address) else {
                    result.complete = false
                    break
                }
                if let memory = instruction.memory, memory.isLoad || memory.isStore,
                   let data = dataAddress(memory, instructionOffset: local, length: instruction.length, relocated: relocated,
                                          next: address + UInt64(instruction.length)) {
                    if memory.isLoad { result.reads.insert(data) }
                    if memory.isStore { result.writes.insert(data) }
                }
                address += UInt64(instruction.length)
            }
        }
        cache[key] = result
        return result
    }

    /// The static or global data the store instruction at `address` writes, if it addresses any directly.
    public func dataWritten(at address: UInt64) -> DataAddress? {
        guard let (section, code, start) = file.code(at: address) else { return nil }
        let local = address &- start
        guard local < UInt64(code.count), let instruction = X86Decoder.decode(code, offset: Int(local), address: address),
              let memory = instruction.memory, memory.isStore else { return nil }
        return dataAddress(memory, instructionOffset: local, length: instruction.length, relocated: file.unlinkedRelocations(of: section),
                           next: address + UInt64(instruction.length))
    }

    private func dataAddress(_ memory: X86Instruction.Memory, instructionOffset: UInt64, length: Int,
                             relocated: [UInt64: DwarfFile.UnlinkedRelocation], next: UInt64) -> DataAddress? {
        // Per-CPU data (`%gs:`) is the running CPU's state, not a loop's: the preemption count every
        // preempt_disable() writes would otherwise tie every writer to every reader. Not compared.
        let perCPU = memory.segment == 0x65
        if perCPU { return nil }
        if let field = memory.displacementOffset, let relocation = relocated[instructionOffset + UInt64(field)] {
            // An object: the relocation's symbol is the data; %rip-relative addends count from the field's end.
            let adjust = memory.ripRelative ? Int64(length - field) : 0
            var symbol = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var symbolElf: OpaquePointer?
            var symbolBias: Dwarf_Addr = 0
            guard let name = dwfl_module_getsym_info(file.module, Int32(relocation.symbol), &symbol, &address, &shndx,
                                                     &symbolElf, &symbolBias) else { return nil }
            if shndx == 0 {
                return DataAddress(space: .undefined, address: UInt64(bitPattern: relocation.addend &+ adjust), symbol: String(cString: name))
            }
            return DataAddress(space: .file, address: address &+ UInt64(bitPattern: relocation.addend &+ adjust), symbol: nil)
        }
        if memory.ripRelative {
            return DataAddress(space: .file, address: next &+ UInt64(bitPattern: memory.displacement), symbol: nil)
        }
        let displacement = UInt64(bitPattern: memory.displacement)
        if memory.base == nil && memory.index == nil {
            return DataAddress(space: .file, address: displacement, symbol: nil)
        }
        // A register plus a kernel address: an element of a global array (x86-64's kernel code model).
        // (A small negative displacement, a field before a pointer, is not one: kernel data lies below the top 256 MB.)
        if memory.base != X86Instruction.rsp, displacement >= 0xffff_ffff_8000_0000, displacement < 0xffff_ffff_f000_0000 {
            return DataAddress(space: .file, address: displacement, symbol: nil)
        }
        return nil
    }

    /// A name for the data: its symbol (with an offset when inside it), else the address.
    public func name(of data: DataAddress) -> String {
        if let symbol = data.symbol { return data.address == 0 ? symbol : "\(symbol)+\(data.address)" }
        var offset: GElf_Off = 0
        var symbol = GElf_Sym()
        if data.space == .file, let name = dwfl_module_addrinfo(file.module, data.address + file.bias, &offset, &symbol, nil, nil, nil) {
            return offset == 0 ? String(cString: name) : "\(String(cString: name))+0x\(String(offset, radix: 16))"
        }
        return (data.space == .perCPU ? "%gs:0x" : "0x") + String(data.address, radix: 16)
    }
}
