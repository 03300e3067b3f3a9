import CElf
#if canImport(Glibc)
import Glibc
#endif

/// Writes an `ELFImage` through libelf. The file is written beside the target
/// and renamed over it, so rewriting an object that is open for reading (the
/// post-link step) is safe. libelf lays out the file; we give it sections.
public enum ELFWriter {
    public static func write(_ image: ELFImage, to path: String) throws {
        ELFLibrary.ensureInitialized()
        try validate(image, path: path)
        let tables = stringTables(of: image)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ELFError.cannotOpen(file: temporary, errno: errno) }
        var buffers: [UnsafeMutableRawPointer] = []
        var written = false
        defer {
            buffers.forEach { $0.deallocate() }
            close(fd)
            if !written { unlink(temporary) }
        }
        guard let elf = elf_begin(fd, ELF_C_WRITE, nil) else {
            throw ELFError.libelf(file: path, operation: "elf_begin(write)", message: ELFObject.libelfMessage())
        }
        defer { elf_end(elf) }
        try writeHeader(image, elf: elf, path: path)
        for index in 1..<image.sections.count {
            try writeSection(index, of: image, names: tables, elf: elf, path: path, buffers: &buffers)
        }
        guard elf_update(elf, ELF_C_WRITE) >= 0 else {
            throw ELFError.libelf(file: path, operation: "elf_update", message: ELFObject.libelfMessage())
        }
        guard rename(temporary, path) == 0 else { throw ELFError.cannotOpen(file: path, errno: errno) }
        written = true
    }

    // MARK: Checks

    /// Every link, info, symbol section and relocation symbol must name something that exists.
    static func validate(_ image: ELFImage, path: String) throws {
        let count = image.sections.count
        guard count < Int(SpecialSection.loReserve) else {
            throw ELFError.cannotWrite(file: path, what: "\(count) sections need extended numbering, which the writer does not emit")
        }
        guard image.sectionNamesIndex > 0, image.sectionNamesIndex < count,
              case .strings = image.sections[image.sectionNamesIndex].content else {
            throw ELFError.cannotWrite(file: path, what: "section name table \(image.sectionNamesIndex) is not a generated string table")
        }
        for (index, s) in image.sections.enumerated() where index > 0 {
            guard Int(s.link) < count else { throw ELFError.cannotWrite(file: path, what: "section \(s.name) links to \(s.link)") }
            switch s.content {
            case .symbols(let symbols):
                guard case .strings = image.sections[Int(s.link)].content else {
                    throw ELFError.cannotWrite(file: path, what: "symbol table \(s.name) does not link to a generated string table")
                }
                var seenGlobal = false
                for sym in symbols {
                    if sym.binding != .local { seenGlobal = true } else if seenGlobal {
                        throw ELFError.cannotWrite(file: path, what: "local symbol \(sym) follows a global one")
                    }
                    if sym.sectionIndex != SpecialSection.undefined, sym.sectionIndex < SpecialSection.loReserve,
                       Int(sym.sectionIndex) >= count {
                        throw ELFError.cannotWrite(file: path, what: "symbol \(sym) is in section \(sym.sectionIndex), the image has \(count)")
                    }
                }
            case .relocations(let relocations):
                guard case .symbols(let symbols) = image.sections[Int(s.link)].content else {
                    throw ELFError.cannotWrite(file: path, what: "relocation section \(s.name) does not link to a symbol table")
                }
                guard Int(s.info) < count else { throw ELFError.cannotWrite(file: path, what: "relocation section \(s.name) applies to \(s.info)") }
                if let bad = relocations.first(where: { $0.symbolIndex >= symbols.count }) {
                    throw ELFError.cannotWrite(file: path, what: "relocation in \(s.name) at \(bad.offset) names symbol \(bad.symbolIndex) of \(symbols.count)")
                }
            default: break
            }
        }
    }

    // MARK: String tables

    struct StringTable {
        var bytes: [UInt8] = [0]
        var offsets: [String: UInt32] = ["": 0]

        mutating func add(_ s: String) {
            guard offsets[s] == nil else { return }
            offsets[s] = UInt32(bytes.count)
            bytes.append(contentsOf: Array(s.utf8))
            bytes.append(0)
        }
    }

    /// One table per `.strings` section: section names (for e_shstrndx) and the
    /// names of symbols whose table links to it.
    static func stringTables(of image: ELFImage) -> [Int: StringTable] {
        var tables: [Int: StringTable] = [:]
        for (index, s) in image.sections.enumerated() {
            if case .strings = s.content { tables[index] = StringTable() }
        }
        for s in image.sections {
            tables[image.sectionNamesIndex]?.add(s.name)
        }
        for s in image.sections {
            guard case .symbols(let symbols) = s.content else { continue }
            for sym in symbols { tables[Int(s.link)]?.add(sym.name) }
        }
        return tables
    }

    // MARK: libelf

    private static func writeHeader(_ image: ELFImage, elf: OpaquePointer, path: String) throws {
        guard gelf_newehdr(elf, Int32(ELFIdentity.class64)) != nil else {
            throw ELFError.libelf(file: path, operation: "gelf_newehdr", message: ELFObject.libelfMessage())
        }
        var ehdr = GElf_Ehdr()
        guard gelf_getehdr(elf, &ehdr) != nil else {
            throw ELFError.libelf(file: path, operation: "gelf_getehdr", message: ELFObject.libelfMessage())
        }
        ehdr.e_ident.5 = ELFIdentity.littleEndian
        ehdr.e_ident.6 = UInt8(EV_CURRENT)
        ehdr.e_type = image.fileType.rawValue
        ehdr.e_machine = ELFIdentity.machineX86_64
        ehdr.e_version = UInt32(EV_CURRENT)
        ehdr.e_shstrndx = UInt16(image.sectionNamesIndex)
        guard gelf_update_ehdr(elf, &ehdr) != 0 else {
            throw ELFError.libelf(file: path, operation: "gelf_update_ehdr", message: ELFObject.libelfMessage())
        }
    }

    private static func writeSection(_ index: Int, of image: ELFImage, names: [Int: StringTable], elf: OpaquePointer,
                                     path: String, buffers: inout [UnsafeMutableRawPointer]) throws {
        let s = image.sections[index]
        guard let scn = elf_newscn(elf), let data = elf_newdata(scn) else {
            throw ELFError.libelf(file: path, operation: "elf_newscn(\(s.name))", message: ELFObject.libelfMessage())
        }
        func buffer(_ size: Int) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
            buffers.append(p)
            return p
        }
        var entrySize = s.entrySize
        var info = s.info
        data.pointee.d_version = UInt32(EV_CURRENT)
        data.pointee.d_align = Int(max(s.alignment, 1))
        data.pointee.d_off = 0
        switch s.content {
        case .bytes(let bytes):
            let p = buffer(bytes.count)
            bytes.withUnsafeBytes { if let base = $0.baseAddress { p.copyMemory(from: base, byteCount: bytes.count) } }
            data.pointee.d_buf = p
            data.pointee.d_size = bytes.count
            data.pointee.d_type = ELF_T_BYTE
        case .noBits(let size):
            data.pointee.d_buf = nil
            data.pointee.d_size = Int(size)
            data.pointee.d_type = ELF_T_BYTE
        case .strings:
            let bytes = names[index]?.bytes ?? [0]
            let p = buffer(bytes.count)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            data.pointee.d_buf = p
            data.pointee.d_size = bytes.count
            data.pointee.d_type = ELF_T_BYTE
        case .symbols(let symbols):
            let table = names[Int(s.link)]
            data.pointee.d_buf = buffer(symbols.count * Int(ELFIdentity.symbolEntrySize))
            data.pointee.d_size = symbols.count * Int(ELFIdentity.symbolEntrySize)
            data.pointee.d_type = ELF_T_SYM
            for (i, sym) in symbols.enumerated() {
                var g = GElf_Sym(st_name: table?.offsets[sym.name] ?? 0,
                                 st_info: (sym.binding.rawValue << 4) | (sym.type.rawValue & 0xf),
                                 st_other: sym.other, st_shndx: sym.sectionIndex,
                                 st_value: sym.value, st_size: sym.size)
                guard gelf_update_sym(data, Int32(i), &g) != 0 else {
                    throw ELFError.libelf(file: path, operation: "gelf_update_sym(\(sym))", message: ELFObject.libelfMessage())
                }
            }
            entrySize = ELFIdentity.symbolEntrySize
            info = UInt32(symbols.firstIndex { $0.binding != .local } ?? symbols.count)
        case .relocations(let relocations):
            data.pointee.d_buf = buffer(relocations.count * Int(ELFIdentity.relaEntrySize))
            data.pointee.d_size = relocations.count * Int(ELFIdentity.relaEntrySize)
            data.pointee.d_type = ELF_T_RELA
            for (i, r) in relocations.enumerated() {
                var g = GElf_Rela(r_offset: r.offset, r_info: (UInt64(r.symbolIndex) << 32) | UInt64(r.type.rawValue),
                                  r_addend: r.addend)
                guard gelf_update_rela(data, Int32(i), &g) != 0 else {
                    throw ELFError.libelf(file: path, operation: "gelf_update_rela(\(s.name))", message: ELFObject.libelfMessage())
                }
            }
            entrySize = ELFIdentity.relaEntrySize
        }
        var shdr = GElf_Shdr()
        guard gelf_getshdr(scn, &shdr) != nil else {
            throw ELFError.libelf(file: path, operation: "gelf_getshdr(\(s.name))", message: ELFObject.libelfMessage())
        }
        shdr.sh_name = names[image.sectionNamesIndex]?.offsets[s.name] ?? 0
        shdr.sh_type = s.type.rawValue
        shdr.sh_flags = s.flags.rawValue
        shdr.sh_addr = 0
        shdr.sh_link = s.link
        shdr.sh_info = info
        shdr.sh_addralign = s.alignment
        shdr.sh_entsize = entrySize
        shdr.sh_size = UInt64(data.pointee.d_size)
        guard gelf_update_shdr(scn, &shdr) != 0 else {
            throw ELFError.libelf(file: path, operation: "gelf_update_shdr(\(s.name))", message: ELFObject.libelfMessage())
        }
    }
}
