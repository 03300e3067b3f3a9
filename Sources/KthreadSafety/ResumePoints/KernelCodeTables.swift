import CElf
import PatchModel

/// The x86-64 kernel tables (6.1 layouts) that add control flow the
/// instructions do not show, read from a linked vmlinux:
/// - `__jump_table` (between `__start___jump_table` and `__stop___jump_table`):
///   `struct jump_entry { s32 code; s32 target; long key; }`, a static branch
///   at `code` may jump to `target`;
/// - `__ex_table`: `struct exception_table_entry { int insn, fixup, data; }`,
///   a fault at `insn` continues at `fixup`;
/// - `.altinstructions`: `struct alt_instr { s32 instr_offset; s32 repl_offset;
///   u16 cpuid; u8 instrlen; u8 replacementlen; }`, the original instructions
///   (a `jmp` in `static_cpu_has`) may become NOPs that fall through.
/// Offsets are relative to the field's own address.
struct KernelCodeTables {
    let file: DwarfFile

    private enum Layout {
        static let jumpEntrySize = 16, exceptionEntrySize = 12, altEntrySize = 12
        static let altInstrLengthOffset = 10
    }

    /// Throws when a table is missing: without it some paths would go unseen.
    func edges() throws -> [(from: UInt64, to: UInt64)] {
        var edges: [(from: UInt64, to: UInt64)] = []
        let bounds = symbols(named: ["__start___jump_table", "__stop___jump_table"])
        guard let start = bounds["__start___jump_table"], let stop = bounds["__stop___jump_table"], stop >= start,
              let jumps = try bytes(at: start, count: Int(stop - start), what: "__jump_table") else { throw missing("__jump_table") }
        for entry in stride(from: 0, to: jumps.count - Layout.jumpEntrySize + 1, by: Layout.jumpEntrySize) {
            let at = start + UInt64(entry)
            edges.append((relative(jumps, entry, at), relative(jumps, entry + 4, at + 4)))
        }
        guard let (exceptionsAt, exceptions) = try section("__ex_table") else { throw missing("__ex_table") }
        for entry in stride(from: 0, to: exceptions.count - Layout.exceptionEntrySize + 1, by: Layout.exceptionEntrySize) {
            let at = exceptionsAt + UInt64(entry)
            edges.append((relative(exceptions, entry, at), relative(exceptions, entry + 4, at + 4)))
        }
        guard let (alternativesAt, alternatives) = try section(".altinstructions") else { throw missing(".altinstructions") }
        for entry in stride(from: 0, to: alternatives.count - Layout.altEntrySize + 1, by: Layout.altEntrySize) {
            let instruction = relative(alternatives, entry, alternativesAt + UInt64(entry))
            edges.append((instruction, instruction + UInt64(alternatives[entry + Layout.altInstrLengthOffset])))
        }
        return edges
    }

    private func missing(_ table: String) -> CallGraphError {
        .dwarf(path: file.path, what: table, message: "not found: the file is not a linked x86-64 vmlinux")
    }

    private func relative(_ bytes: [UInt8], _ offset: Int, _ fieldAddress: UInt64) -> UInt64 {
        let value = Int32(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                          | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        return UInt64(bitPattern: Int64(bitPattern: fieldAddress) &+ Int64(value))
    }

    private var elf: OpaquePointer? {
        var bias: GElf_Addr = 0
        return dwfl_module_getelf(file.module, &bias)
    }

    /// The addresses of the named symbols, in one pass over the symbol table.
    private func symbols(named names: Set<String>) -> [String: UInt64] {
        var found: [String: UInt64] = [:]
        let count = dwfl_module_getsymtab(file.module)
        guard count > 0 else { return found }
        for i in 0..<count where found.count < names.count {
            var sym = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var symbolElf: OpaquePointer?
            var bias: Dwarf_Addr = 0
            guard let cName = dwfl_module_getsym_info(file.module, i, &sym, &address, &shndx, &symbolElf, &bias) else { continue }
            let name = String(cString: cName)
            if names.contains(name) { found[name] = address }
        }
        return found
    }

    /// A named section's address and contents.
    private func section(_ name: String) throws -> (UInt64, [UInt8])? {
        guard let elf else { return nil }
        var stringIndex = 0
        guard elf_getshdrstrndx(elf, &stringIndex) == 0 else { return nil }
        var scn = elf_nextscn(elf, nil)
        while let current = scn {
            defer { scn = elf_nextscn(elf, current) }
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, let cName = elf_strptr(elf, stringIndex, Int(header.sh_name)),
                  String(cString: cName) == name else { continue }
            guard header.sh_type != UInt32(SHT_NOBITS), let data = elf_getdata(current, nil), let buffer = data.pointee.d_buf else {
                throw CallGraphError.dwarf(path: file.path, what: "section \(name)", message: "no contents")
            }
            return (header.sh_addr, Array(UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)))
        }
        return nil
    }

    /// `count` bytes at `address`, from the section holding them.
    private func bytes(at address: UInt64, count: Int, what: String) throws -> [UInt8]? {
        guard let elf else { return nil }
        var scn = elf_nextscn(elf, nil)
        while let current = scn {
            defer { scn = elf_nextscn(elf, current) }
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_flags & UInt64(SHF_ALLOC) != 0,
                  address >= header.sh_addr, address + UInt64(count) <= header.sh_addr + header.sh_size else { continue }
            guard header.sh_type != UInt32(SHT_NOBITS), let data = elf_getdata(current, nil), let buffer = data.pointee.d_buf,
                  Int(address - header.sh_addr) + count <= data.pointee.d_size else {
                throw CallGraphError.dwarf(path: file.path, what: what, message: "no contents at \(String(address, radix: 16))")
            }
            return Array(UnsafeRawBufferPointer(start: buffer + Int(address - header.sh_addr), count: count))
        }
        return nil
    }
}
