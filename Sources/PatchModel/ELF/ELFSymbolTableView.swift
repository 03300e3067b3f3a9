#if canImport(Glibc)
import Glibc
#endif

/// An ELF file's `.symtab` and its string table, copied once and read in place:
/// the fields of entry `i` without building an `ELFSymbol` (and its name
/// `String`) for every entry. For large tables of which a task needs a few names
/// (the debug vmlinux has 130k symbols; a diff looks up a handful). Every entry
/// is checked at init, as `ELFObject.symbols()` checks it: a bad file throws.
struct ELFSymbolTableView {
    let path: String
    /// Entries, entry 0 included.
    let count: Int
    private let entries: [UInt8]
    private let strings: [UInt8]

    init(object: ELFObject) throws {
        path = object.path
        guard let symtab = object.symbolTable else {
            count = 0
            entries = []
            strings = []
            return
        }
        guard symtab.entrySize == ELFIdentity.symbolEntrySize, symtab.size % ELFIdentity.symbolEntrySize == 0 else {
            throw ELFError.malformed(file: path, what: "symbol table \(symtab) has entry size \(symtab.entrySize) and size \(symtab.size)")
        }
        let strtab = try object.section(at: Int(symtab.link))
        guard strtab.type == .strtab else {
            throw ELFError.malformed(file: path, what: "symbol table links to \(strtab), which is not a string table")
        }
        entries = try object.data(of: symtab)
        strings = try object.data(of: strtab)
        count = entries.count / Int(ELFIdentity.symbolEntrySize)
        try validate(sectionCount: object.sections.count, strtab: strtab)
    }

    private func validate(sectionCount: Int, strtab: ELFSection) throws {
        // A name runs to a NUL inside the table (what elf_strptr checks per call).
        let terminated = strings.last == 0
        for i in 0..<count {
            let offset = nameOffset(i)
            if offset != 0, offset >= strings.count || !terminated {
                throw ELFError.malformed(file: path, what: "symbol \(i) name offset \(offset) outside \(strtab)")
            }
            let shndx = sectionIndex(i)
            if shndx == SpecialSection.extendedIndex {
                throw ELFError.unsupported(file: path, what: "symbol \(name(i)) uses an extended section index")
            }
            if shndx != SpecialSection.undefined, shndx < SpecialSection.loReserve, Int(shndx) >= sectionCount {
                throw ELFError.malformed(file: path, what: "symbol \(name(i)) (#\(i)) is in section \(shndx), the file has \(sectionCount)")
            }
        }
    }

    // MARK: Fields of entry i (Elf64_Sym: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64)

    private func load<T: FixedWidthInteger>(_ i: Int, _ at: Int, as: T.Type) -> T {
        entries.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: i * Int(ELFIdentity.symbolEntrySize) + at, as: T.self)) }
    }

    func nameOffset(_ i: Int) -> Int { Int(load(i, 0, as: UInt32.self)) }
    func type(_ i: Int) -> SymbolType { SymbolType(rawValue: load(i, 4, as: UInt8.self) & 0xf) }
    func binding(_ i: Int) -> SymbolBinding { SymbolBinding(rawValue: load(i, 4, as: UInt8.self) >> 4) }
    func sectionIndex(_ i: Int) -> UInt16 { load(i, 6, as: UInt16.self) }
    func value(_ i: Int) -> UInt64 { load(i, 8, as: UInt64.self) }

    func isLocal(_ i: Int) -> Bool { binding(i) == .local }
    /// Defined in a real section (as `ELFSymbol.isInSection`).
    func isInSection(_ i: Int) -> Bool {
        let shndx = sectionIndex(i)
        return shndx != SpecialSection.undefined && shndx < SpecialSection.loReserve
    }
    func hasName(_ i: Int) -> Bool {
        let offset = nameOffset(i)
        return offset != 0 && strings[offset] != 0
    }

    func name(_ i: Int) -> String {
        let offset = nameOffset(i)
        guard offset != 0 else { return "" }
        return strings.withUnsafeBytes { raw in
            let start = raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
            return String(decoding: UnsafeBufferPointer(start: start, count: strlen(start)), as: UTF8.self)
        }
    }

    /// True when entry `i`'s name is exactly `utf8`.
    func nameEquals(_ i: Int, _ utf8: [UInt8]) -> Bool {
        let offset = nameOffset(i)
        guard offset != 0 else { return utf8.isEmpty }
        guard offset + utf8.count < strings.count else { return false }
        return strings.withUnsafeBytes { raw in
            utf8.withUnsafeBytes { want in
                (want.isEmpty || memcmp(raw.baseAddress! + offset, want.baseAddress!, want.count) == 0)
                    && raw[offset + want.count] == 0
            }
        }
    }

    /// `ByteStringIndex.hash` of entry `i`'s name.
    func nameHash(_ i: Int) -> UInt64 {
        let offset = nameOffset(i)
        guard offset != 0 else { return ByteStringIndex.hash([]) }
        return strings.withUnsafeBytes { raw in
            let start = raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
            return ByteStringIndex.hash(UnsafeBufferPointer(start: start, count: strlen(start)))
        }
    }
}
