import CElf

/// One ELF file's DWARF, opened through libdwfl so that ET_REL inputs (`.o`,
/// `.ko`) get their debug-section relocations applied; a plain `dwarf_begin`
/// would leave every cross-DIE and string reference of an object file wrong.
/// The same path serves linked files (the debug vmlinux).
package final class DwarfFile {
    package let path: String
    private let session: OpaquePointer
    private let callbacks: UnsafeMutablePointer<Dwfl_Callbacks>
    package let module: OpaquePointer
    package let dwarf: OpaquePointer
    /// What to add to a DWARF address to get libdwfl's address for it.
    package let bias: Dwarf_Addr

    package init(path: String) throws {
        ELFLibrary.ensureInitialized()
        self.path = path
        // dwfl keeps a pointer to its callbacks for its whole life: they live on the heap.
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: Dwfl_Callbacks(
            find_elf: nil,
            find_debuginfo: dwfl_standard_find_debuginfo,
            section_address: dwfl_offline_section_address,
            debuginfo_path: nil))
        guard let session = dwfl_begin(callbacks) else {
            callbacks.deallocate()
            throw CallGraphError.dwarf(path: path, what: "dwfl_begin", message: DwarfFile.lastError)
        }
        self.session = session
        dwfl_report_begin(session)
        guard let module = dwfl_report_offline(session, path, path, -1) else {
            let message = DwarfFile.lastError
            dwfl_end(session); callbacks.deallocate()
            throw CallGraphError.dwarf(path: path, what: "dwfl_report_offline", message: message)
        }
        dwfl_report_end(session, nil, nil)
        var bias: Dwarf_Addr = 0
        guard let dwarf = dwfl_module_getdwarf(module, &bias) else {
            dwfl_end(session); callbacks.deallocate()
            throw CallGraphError.noDebugInfo(path: path)
        }
        self.module = module
        self.dwarf = dwarf
        self.bias = bias
    }

    deinit {
        dwfl_end(session)
        callbacks.deallocate()
    }

    /// The GNU build id as lowercase hex, or nil when the file has none.
    package var buildID: String? {
        var bits: UnsafePointer<UInt8>?
        var vaddr: GElf_Addr = 0
        let length = dwfl_module_build_id(module, &bits, &vaddr)
        guard length > 0, let bits else { return nil }
        return hexString(UnsafeBufferPointer(start: bits, count: Int(length)))
    }

    /// Offsets of every compilation unit's DIE, in file order.
    package func unitOffsets() -> [Dwarf_Off] {
        var offsets: [Dwarf_Off] = []
        var offset: Dwarf_Off = 0
        var next: Dwarf_Off = 0
        var headerSize = 0
        while dwarf_nextcu(dwarf, offset, &next, &headerSize, nil, nil, nil) == 0 {
            offsets.append(offset + Dwarf_Off(headerSize))
            offset = next
        }
        return offsets
    }

    /// A subprogram's entry address: DW_AT_entry_pc or DW_AT_low_pc, else (a
    /// function split into hot and cold parts has only DW_AT_ranges) the start of
    /// its first range, which GCC makes the hot part's.
    package static func entryAddress(of die: inout Dwarf_Die) -> Dwarf_Addr? {
        var address: Dwarf_Addr = 0
        if dwarf_entrypc(&die, &address) == 0 || dwarf_lowpc(&die, &address) == 0 { return address }
        var base: Dwarf_Addr = 0, end: Dwarf_Addr = 0
        return dwarf_ranges(&die, 0, &base, &address, &end) > 0 ? address : nil
    }

    /// A subprogram's code ranges (hot and cold parts), DWARF addresses.
    package static func ranges(of die: inout Dwarf_Die) -> [(UInt64, UInt64)] {
        var ranges: [(UInt64, UInt64)] = []
        var base: Dwarf_Addr = 0, start: Dwarf_Addr = 0, end: Dwarf_Addr = 0
        var offset = dwarf_ranges(&die, 0, &base, &start, &end)
        while offset > 0 {
            ranges.append((start, end))
            offset = dwarf_ranges(&die, offset, &base, &start, &end)
        }
        return ranges
    }

    package struct UnlinkedRelocation {
        package var symbol: UInt32
        package var addend: Int64
    }

    /// Read once per section (`unlinkedRelocations(of:)`).
    private var relocationsBySection: [UInt: [UInt64: UnlinkedRelocation]] = [:]

    /// Section offset -> relocation, for the relocations patching `section` of an unlinked object
    /// (empty for a linked file, whose code has its relocations applied). Read once per section.
    package func unlinkedRelocations(of section: OpaquePointer) -> [UInt64: UnlinkedRelocation] {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(section)))
        if let known = relocationsBySection[key] { return known }
        let found = readUnlinkedRelocations(of: section)
        relocationsBySection[key] = found
        return found
    }

    private func readUnlinkedRelocations(of section: OpaquePointer) -> [UInt64: UnlinkedRelocation] {
        var found: [UInt64: UnlinkedRelocation] = [:]
        var elfBias: GElf_Addr = 0
        guard let elf = dwfl_module_getelf(module, &elfBias) else { return found }
        var elfHeader = GElf_Ehdr()
        guard gelf_getehdr(elf, &elfHeader) != nil, elfHeader.e_type == UInt16(ET_REL) else { return found }
        let index = elf_ndxscn(section)
        var scn = elf_nextscn(elf, nil)
        while let current = scn {
            defer { scn = elf_nextscn(elf, current) }
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_type == UInt32(SHT_RELA), Int(header.sh_info) == index,
                  header.sh_entsize > 0, let data = elf_getdata(current, nil) else { continue }
            for i in 0..<Int32(header.sh_size / header.sh_entsize) {
                var rela = GElf_Rela()
                if gelf_getrela(data, i, &rela) != nil {
                    found[rela.r_offset] = UnlinkedRelocation(symbol: UInt32(truncatingIfNeeded: rela.r_info >> 32), addend: rela.r_addend)
                }
            }
        }
        return found
    }

    /// The name of one of the file's sections.
    package func sectionName(_ section: OpaquePointer) -> String? {
        var elfBias: GElf_Addr = 0
        var header = GElf_Shdr()
        var stringIndex = 0
        guard let elf = dwfl_module_getelf(module, &elfBias), gelf_getshdr(section, &header) != nil,
              elf_getshdrstrndx(elf, &stringIndex) == 0, let name = elf_strptr(elf, stringIndex, Int(header.sh_name)) else { return nil }
        return String(cString: name)
    }

    /// A function's code: the section bytes holding DWARF address `address`, and the DWARF address of their first byte.
    package func code(at address: UInt64) -> (section: OpaquePointer, bytes: UnsafeBufferPointer<UInt8>, start: UInt64)? {
        var offset = address + bias
        var sectionBias: Dwarf_Addr = 0
        guard let section = dwfl_module_address_section(module, &offset, &sectionBias),
              let data = elf_getdata(section, nil), let pointer = data.pointee.d_buf?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        return (section, UnsafeBufferPointer(start: UnsafePointer(pointer), count: Int(data.pointee.d_size)), address &- offset)
    }

    /// Moves `die` to its next sibling; false at the last one. libdw allows the
    /// result to overwrite the DIE it starts from.
    package static func nextSibling(_ die: inout Dwarf_Die) -> Bool {
        withUnsafeMutablePointer(to: &die) { dwarf_siblingof($0, $0) == 0 }
    }

    package static var lastError: String {
        if let message = dwfl_errmsg(-1) { return String(cString: message) }
        return "unknown libdwfl error"
    }
}
