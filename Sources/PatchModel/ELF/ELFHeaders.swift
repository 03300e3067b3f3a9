import CElf

extension ELFObject {
    /// Reads and checks the ELF header and every section header.
    static func readHeaders(elf: OpaquePointer, path: String, fileSize: UInt64,
                            allowedTypes: Set<ObjectFileType>) throws -> (ObjectFileType, [ELFSection], Int) {
        guard elf_kind(elf) == ELF_K_ELF else { throw ELFError.notELF(file: path) }
        var identSize = 0
        guard let ident = elf_getident(elf, &identSize), identSize >= 16 else { throw ELFError.notELF(file: path) }
        let elfClass = UInt8(bitPattern: ident[4]), byteOrder = UInt8(bitPattern: ident[5])
        guard elfClass == ELFIdentity.class64 else { throw ELFError.unsupported(file: path, what: "ELF class \(elfClass), expected ELFCLASS64") }
        guard byteOrder == ELFIdentity.littleEndian else { throw ELFError.unsupported(file: path, what: "byte order \(byteOrder), expected little-endian") }
        var ehdr = GElf_Ehdr()
        guard gelf_getehdr(elf, &ehdr) != nil else {
            throw ELFError.libelf(file: path, operation: "gelf_getehdr", message: libelfMessage())
        }
        guard ehdr.e_machine == ELFIdentity.machineX86_64 else {
            throw ELFError.unsupported(file: path, what: "machine \(ehdr.e_machine), expected x86-64")
        }
        let type = ObjectFileType(rawValue: ehdr.e_type)
        guard allowedTypes.contains(type) else {
            throw ELFError.unsupported(file: path, what: "\(type), expected one of \(allowedTypes.map(\.description).sorted())")
        }
        var count = 0, namesIndex = 0
        guard elf_getshdrnum(elf, &count) == 0 else {
            throw ELFError.libelf(file: path, operation: "elf_getshdrnum", message: libelfMessage())
        }
        guard elf_getshdrstrndx(elf, &namesIndex) == 0 else {
            throw ELFError.libelf(file: path, operation: "elf_getshdrstrndx", message: libelfMessage())
        }
        guard count > 0, namesIndex > 0, namesIndex < count else {
            throw ELFError.malformed(file: path, what: "section name table index \(namesIndex) with \(count) sections")
        }
        var sections: [ELFSection] = []
        sections.reserveCapacity(count)
        var shdr = GElf_Shdr()
        for index in 0..<count {
            guard let scn = elf_getscn(elf, index), gelf_getshdr(scn, &shdr) != nil else {
                throw ELFError.libelf(file: path, operation: "gelf_getshdr(\(index))", message: libelfMessage())
            }
            var name = ""
            if index > 0 {
                guard let p = elf_strptr(elf, namesIndex, Int(shdr.sh_name)) else {
                    throw ELFError.malformed(file: path, what: "section \(index) name offset \(shdr.sh_name) outside the name table")
                }
                name = String(cString: p)
            }
            let section = ELFSection(index: index, name: name, type: SectionType(rawValue: shdr.sh_type),
                                     flags: SectionFlags(rawValue: shdr.sh_flags), address: shdr.sh_addr,
                                     offset: shdr.sh_offset, size: shdr.sh_size, link: shdr.sh_link,
                                     info: shdr.sh_info, alignment: shdr.sh_addralign, entrySize: shdr.sh_entsize)
            try check(section, count: count, fileSize: fileSize, path: path)
            sections.append(section)
        }
        if sections.filter({ $0.type == .symtab }).count > 1 {
            throw ELFError.malformed(file: path, what: "more than one symbol table")
        }
        return (type, sections, namesIndex)
    }

    private static func check(_ s: ELFSection, count: Int, fileSize: UInt64, path: String) throws {
        if s.occupiesFile {
            let (end, overflow) = s.offset.addingReportingOverflow(s.size)
            guard !overflow, end <= fileSize else {
                throw ELFError.malformed(file: path, what: "section \(s) (offset \(s.offset), size \(s.size)) extends past the end of the file (\(fileSize) bytes)")
            }
        }
        // 0 or a power of two (the ELF rule); the bound keeps it a valid Int for libelf
        // when the section is written out again (found by the fuzzer: 0xf800000000000010 trapped).
        guard s.alignment & (s.alignment &- 1) == 0, s.alignment <= ELFSection.maxAlignment else {
            throw ELFError.malformed(file: path, what: "section \(s) alignment \(s.alignment) is not a power of two up to \(ELFSection.maxAlignment)")
        }
        switch s.type {
        case .symtab, .rela, .rel, .group, .symtabShndx, .dynsym:
            guard s.link > 0, Int(s.link) < count else {
                throw ELFError.malformed(file: path, what: "section \(s) links to section \(s.link), the file has \(count)")
            }
        default: break
        }
        if s.type == .rela || s.type == .rel {
            guard Int(s.info) < count else {
                throw ELFError.malformed(file: path, what: "relocation section \(s) applies to section \(s.info), the file has \(count)")
            }
            guard s.entrySize == ELFIdentity.relaEntrySize || s.type == .rel, s.size % max(s.entrySize, 1) == 0 else {
                throw ELFError.malformed(file: path, what: "relocation section \(s) has entry size \(s.entrySize) and size \(s.size)")
            }
        }
    }
}
