import CElf
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// A read-only ELF64 x86-64 file opened through libelf. Owns its file
/// descriptor and `Elf*`; sections are read and checked once at open, symbols
/// and relocations on first use. Every index, offset and size taken from the
/// file is checked before use: a bad file throws `ELFError`, never traps.
public final class ELFObject {
    public let path: String
    public let fileType: ObjectFileType
    public let fileSize: UInt64
    /// All section headers, index 0 (the null section) included.
    public let sections: [ELFSection]
    /// Index of the section name table (e_shstrndx).
    public let sectionNamesIndex: Int

    private let fd: Int32
    /// The bytes libelf reads when the object was opened from memory (`init(image:name:)`).
    private let image: UnsafeMutableRawBufferPointer?
    private let elf: OpaquePointer
    private var sectionsByName: [String: [Int]] = [:]
    private var cachedSymbols: [ELFSymbol]?
    /// Relocation sections by the index of the section they apply to.
    private var relocationSectionByTarget: [Int: Int] = [:]

    public convenience init(url: URL, allowedTypes: Set<ObjectFileType> = [.relocatable, .executable, .shared]) throws {
        try self.init(path: url.path, allowedTypes: allowedTypes)
    }

    public init(path: String, allowedTypes: Set<ObjectFileType> = [.relocatable, .executable, .shared]) throws {
        ELFLibrary.ensureInitialized()
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ELFError.cannotOpen(file: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw ELFError.cannotOpen(file: path, errno: e)
        }
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else {
            let message = ELFObject.libelfMessage()
            close(fd)
            throw ELFError.libelf(file: path, operation: "elf_begin", message: message)
        }
        let headers: (ObjectFileType, [ELFSection], Int)
        do {
            headers = try ELFObject.readHeaders(elf: elf, path: path, fileSize: UInt64(st.st_size), allowedTypes: allowedTypes)
        } catch {
            elf_end(elf)
            close(fd)
            throw error
        }
        self.fd = fd
        self.image = nil
        self.elf = elf
        self.fileSize = UInt64(st.st_size)
        (fileType, sections, sectionNamesIndex) = headers
        indexSections()
    }

    /// An object held in memory (a decompressed module, `ModuleFile`); `name` names it in errors.
    public init(image bytes: [UInt8], name: String, allowedTypes: Set<ObjectFileType> = [.relocatable, .executable, .shared]) throws {
        ELFLibrary.ensureInitialized()
        path = name
        // libelf reads the buffer for the object's whole life: a copy owned here.
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        image.copyBytes(from: bytes)
        guard let elf = elf_memory(image.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count) else {
            let message = ELFObject.libelfMessage()
            image.deallocate()
            throw ELFError.libelf(file: name, operation: "elf_memory", message: message)
        }
        do {
            (fileType, sections, sectionNamesIndex) = try ELFObject.readHeaders(elf: elf, path: name, fileSize: UInt64(bytes.count),
                                                                               allowedTypes: allowedTypes)
        } catch {
            elf_end(elf)
            image.deallocate()
            throw error
        }
        fd = -1
        self.image = image
        self.elf = elf
        fileSize = UInt64(bytes.count)
        indexSections()
    }

    private func indexSections() {
        for section in sections {
            sectionsByName[section.name, default: []].append(section.index)
            if section.type == .rela {
                relocationSectionByTarget[Int(section.info)] = section.index
            }
        }
    }

    deinit {
        elf_end(elf)
        if fd >= 0 { close(fd) }
        image?.deallocate()
    }

    // MARK: Sections

    /// The first section with this name.
    public func section(named name: String) -> ELFSection? {
        sectionsByName[name]?.first.map { sections[$0] }
    }

    /// The first section with this name, or a typed error naming the file.
    public func requireSection(named name: String) throws -> ELFSection {
        guard let s = section(named: name) else { throw ELFError.missingSection(file: path, name: name) }
        return s
    }

    /// All sections with this name (groups may repeat names).
    public func sections(named name: String) -> [ELFSection] {
        (sectionsByName[name] ?? []).map { sections[$0] }
    }

    /// The section at `index`, checked.
    public func section(at index: Int) throws -> ELFSection {
        guard index > 0, index < sections.count else {
            throw ELFError.malformed(file: path, what: "section index \(index) out of range (0..<\(sections.count))")
        }
        return sections[index]
    }

    /// The RELA section that applies to `section`, if any.
    public func relocationSection(for section: ELFSection) -> ELFSection? {
        relocationSectionByTarget[section.index].map { sections[$0] }
    }

    /// The bytes of a section (empty for NOBITS).
    public func data(of section: ELFSection) throws -> [UInt8] {
        try withData(of: section) { [UInt8]($0) }
    }

    /// Calls `body` with the section's bytes without copying them.
    public func withData<R>(of section: ELFSection, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard section.occupiesFile, section.size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let data = try rawData(section)
        guard let buf = data.pointee.d_buf, data.pointee.d_size == Int(section.size) else {
            throw ELFError.malformed(file: path, what: "section \(section) data size \(data.pointee.d_size) differs from sh_size \(section.size)")
        }
        return try body(UnsafeRawBufferPointer(start: buf, count: data.pointee.d_size))
    }

    // MARK: Symbols

    /// The `.symtab` section, if the file has one.
    public var symbolTable: ELFSection? { sections.first { $0.type == .symtab } }

    /// All entries of `.symtab` (entry 0 included); empty when there is none.
    public func symbols() throws -> [ELFSymbol] {
        if let cachedSymbols { return cachedSymbols }
        guard let symtab = symbolTable else {
            cachedSymbols = []
            return []
        }
        let result = try readSymbols(symtab)
        cachedSymbols = result
        return result
    }

    // MARK: Relocations

    /// The entries of a RELA section, each checked against the symbol table.
    public func relocations(in section: ELFSection) throws -> [ELFRelocation] {
        guard section.type == .rela else {
            throw ELFError.unsupported(file: path, what: "relocation section \(section) is \(section.type), only RELA is handled")
        }
        guard let symtab = symbolTable, Int(section.link) == symtab.index else {
            throw ELFError.malformed(file: path, what: "relocation section \(section) links to section \(section.link), not the symbol table")
        }
        let symbolCount = Int(symtab.size / ELFIdentity.symbolEntrySize)
        let count = Int(section.size / ELFIdentity.relaEntrySize)
        guard count > 0 else { return [] }
        let data = try rawData(section)
        var result: [ELFRelocation] = []
        result.reserveCapacity(count)
        var rela = GElf_Rela()
        for i in 0..<count {
            guard gelf_getrela(data, Int32(i), &rela) != nil else {
                throw ELFError.libelf(file: path, operation: "gelf_getrela(\(section), \(i))", message: ELFObject.libelfMessage())
            }
            let symbolIndex = Int(rela.r_info >> 32)
            guard symbolIndex < symbolCount else {
                throw ELFError.malformed(file: path, what: "relocation \(i) of \(section) names symbol \(symbolIndex), the table has \(symbolCount)")
            }
            result.append(ELFRelocation(offset: rela.r_offset, type: X86Relocation(rawValue: UInt32(truncatingIfNeeded: rela.r_info)),
                                        symbolIndex: symbolIndex, addend: rela.r_addend))
        }
        return result
    }

    // MARK: Reading

    private func rawData(_ section: ELFSection) throws -> UnsafeMutablePointer<Elf_Data> {
        guard let scn = elf_getscn(elf, section.index), let data = elf_getdata(scn, nil) else {
            throw ELFError.libelf(file: path, operation: "elf_getdata(\(section))", message: ELFObject.libelfMessage())
        }
        return data
    }

    private func readSymbols(_ symtab: ELFSection) throws -> [ELFSymbol] {
        guard symtab.entrySize == ELFIdentity.symbolEntrySize, symtab.size % ELFIdentity.symbolEntrySize == 0 else {
            throw ELFError.malformed(file: path, what: "symbol table \(symtab) has entry size \(symtab.entrySize) and size \(symtab.size)")
        }
        let strtab = try section(at: Int(symtab.link))
        guard strtab.type == .strtab else {
            throw ELFError.malformed(file: path, what: "symbol table links to \(strtab), which is not a string table")
        }
        let count = Int(symtab.size / ELFIdentity.symbolEntrySize)
        let data = try rawData(symtab)
        var result: [ELFSymbol] = []
        result.reserveCapacity(count)
        var sym = GElf_Sym()
        for i in 0..<count {
            guard gelf_getsym(data, Int32(i), &sym) != nil else {
                throw ELFError.libelf(file: path, operation: "gelf_getsym(\(i))", message: ELFObject.libelfMessage())
            }
            var name = ""
            if sym.st_name != 0 {
                guard let p = elf_strptr(elf, strtab.index, Int(sym.st_name)) else {
                    throw ELFError.malformed(file: path, what: "symbol \(i) name offset \(sym.st_name) outside \(strtab)")
                }
                name = String(cString: p)
            }
            let shndx = sym.st_shndx
            if shndx == SpecialSection.extendedIndex {
                throw ELFError.unsupported(file: path, what: "symbol \(name) uses an extended section index")
            }
            if shndx != SpecialSection.undefined, shndx < SpecialSection.loReserve, Int(shndx) >= sections.count {
                throw ELFError.malformed(file: path, what: "symbol \(name) (#\(i)) is in section \(shndx), the file has \(sections.count)")
            }
            result.append(ELFSymbol(index: i, name: name, value: sym.st_value, size: sym.st_size,
                                    type: SymbolType(rawValue: sym.st_info & 0xf),
                                    binding: SymbolBinding(rawValue: sym.st_info >> 4),
                                    other: sym.st_other, sectionIndex: shndx))
        }
        return result
    }

    static func libelfMessage() -> String {
        elf_errmsg(-1).map { String(cString: $0) } ?? "unknown libelf error"
    }
}
