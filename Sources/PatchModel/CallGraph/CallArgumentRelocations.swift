import CElf

/// Finding the function passed in %rdi at a call from the caller's code, for
/// call sites whose DWARF carries no value for the first argument. The kernel
/// loads a constant function address with `mov $fn, %rdi` (48 c7 c7, an
/// R_X86_64_32S relocation; or `mov $fn, %edi`, bf, R_X86_64_32), so the
/// relocation just before the call names the function. The debug vmlinux keeps
/// its relocations (`.rela.text`), modules and objects always have them.
extension DwarfFile {
    private enum X86 {
        static let pc32 = UInt32(R_X86_64_PC32), plt32 = UInt32(R_X86_64_PLT32)
        static let abs32 = UInt32(R_X86_64_32), abs32s = UInt32(R_X86_64_32S)
        static let callOpcode: UInt8 = 0xe8
        static let callLength: Dwarf_Addr = 5
        /// How far before the call to look for the argument's load.
        static let window: UInt64 = 64
    }

    /// The DWARF address of the constant loaded into %rdi before the call that
    /// returns to `returnPC`, or nil when the code does not show one plainly
    /// (another call in between would have clobbered %rdi).
    func firstArgumentFromRelocations(returnPC: Dwarf_Addr) -> Dwarf_Addr? {
        var offset = returnPC + bias
        var sectionBias: Dwarf_Addr = 0
        guard let text = dwfl_module_address_section(module, &offset, &sectionBias),
              offset >= X86.callLength, let data = elf_getdata(text, nil),
              let bytes = data.pointee.d_buf?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let size = UInt64(data.pointee.d_size)
        let call = offset - X86.callLength
        guard call < size, bytes[Int(call)] == X86.callOpcode else { return nil }
        let candidates = relocations(of: text, from: call > X86.window ? call - X86.window : 0, to: call)
        // Nearest first: a load of %rdi ends the search, a call in between voids it.
        for relocation in candidates.reversed() {
            let at = Int(relocation.offset)
            if relocation.type == X86.plt32 || relocation.type == X86.pc32, at >= 1, bytes[at - 1] == X86.callOpcode { return nil }
            let loadsRdi = (relocation.type == X86.abs32s && at >= 3 && bytes[at - 3] == 0x48 && bytes[at - 2] == 0xc7 && bytes[at - 1] == 0xc7)
                || (relocation.type == X86.abs32 && at >= 1 && bytes[at - 1] == 0xbf)
            guard loadsRdi else { continue }
            var symbol = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var symbolElf: OpaquePointer?
            var symbolBias: Dwarf_Addr = 0
            guard dwfl_module_getsym_info(module, Int32(relocation.symbol), &symbol, &address, &shndx, &symbolElf, &symbolBias) != nil
            else { return nil }
            return address &+ UInt64(bitPattern: relocation.addend) &- bias
        }
        return nil
    }

    private struct Relocation {
        var offset: UInt64
        var type: UInt32
        var symbol: UInt32
        var addend: Int64
    }

    /// Relocations of `section` at section offsets in [start, end), in offset order.
    private func relocations(of section: OpaquePointer, from start: UInt64, to end: UInt64) -> [Relocation] {
        var elfBias: GElf_Addr = 0
        guard let elf = dwfl_module_getelf(module, &elfBias) else { return [] }
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil else { return [] }
        let index = elf_ndxscn(section)
        var found: [Relocation] = []
        var scn = elf_nextscn(elf, nil)
        while let current = scn {
            defer { scn = elf_nextscn(elf, current) }
            var relaHeader = GElf_Shdr()
            guard gelf_getshdr(current, &relaHeader) != nil, relaHeader.sh_type == UInt32(SHT_RELA),
                  Int(relaHeader.sh_info) == index, relaHeader.sh_entsize > 0,
                  let data = elf_getdata(current, nil) else { continue }
            // r_offset is a section offset in ET_REL files and an address in linked ones (sh_addr 0 vs. load address).
            for i in 0..<Int32(relaHeader.sh_size / relaHeader.sh_entsize) {
                var rela = GElf_Rela()
                guard gelf_getrela(data, i, &rela) != nil, rela.r_offset >= header.sh_addr else { continue }
                let offset = rela.r_offset - header.sh_addr
                guard offset >= start, offset < end else { continue }
                found.append(Relocation(offset: offset, type: UInt32(truncatingIfNeeded: rela.r_info),
                                        symbol: UInt32(truncatingIfNeeded: rela.r_info >> 32), addend: rela.r_addend))
            }
        }
        return found.sorted { $0.offset < $1.offset }
    }
}
