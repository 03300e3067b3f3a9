/// A mutable, in-memory ELF64 x86-64 relocatable object: what `ELFWriter`
/// writes. Built from scratch (the differ's patch object) or from an existing
/// `ELFObject` (the post-link rewrite of a linked `.ko`). Section positions are
/// section indices; symbol positions are symbol indices.
public struct ELFImage {
    /// What a section holds. String tables are generated at write time from the
    /// section names and the names of the symbols whose table links to them.
    public enum Content {
        case bytes([UInt8])
        case noBits(size: UInt64)
        case symbols([ELFSymbol])
        case relocations([ELFRelocation])
        case strings
    }

    public struct Section {
        public var name: String
        public var type: SectionType
        public var flags: SectionFlags
        public var link: UInt32
        public var info: UInt32
        public var alignment: UInt64
        public var entrySize: UInt64
        public var content: Content

        public init(name: String, type: SectionType, flags: SectionFlags = [], link: UInt32 = 0, info: UInt32 = 0,
                    alignment: UInt64 = 1, entrySize: UInt64 = 0, content: Content) {
            self.name = name
            self.type = type
            self.flags = flags
            self.link = link
            self.info = info
            self.alignment = alignment
            self.entrySize = entrySize
            self.content = content
        }

        /// Size in the written file's section header.
        public var size: UInt64 {
            switch content {
            case .bytes(let b): return UInt64(b.count)
            case .noBits(let n): return n
            case .symbols(let s): return UInt64(s.count) * ELFIdentity.symbolEntrySize
            case .relocations(let r): return UInt64(r.count) * ELFIdentity.relaEntrySize
            case .strings: return 0
            }
        }
    }

    public var fileType: ObjectFileType
    /// Index 0 is the null section.
    public var sections: [Section]
    /// The section whose strings name the sections (e_shstrndx).
    public var sectionNamesIndex: Int

    /// An empty relocatable object with `.shstrtab` at index 1.
    public init(fileType: ObjectFileType = .relocatable) {
        self.fileType = fileType
        sections = [Section(name: "", type: .null, alignment: 0, content: .bytes([])),
                    Section(name: ".shstrtab", type: .strtab, content: .strings)]
        sectionNamesIndex = 1
    }

    /// Every section of `object`, in order, with its symbols and relocations decoded.
    public init(object: ELFObject) throws {
        fileType = object.fileType
        sectionNamesIndex = object.sectionNamesIndex
        let symbolNamesIndex = object.symbolTable.map { Int($0.link) }
        sections = []
        sections.reserveCapacity(object.sections.count)
        for s in object.sections {
            let content: Content
            switch s.type {
            case .null: content = .bytes([])
            case .symtab: content = .symbols(try object.symbols())
            case .rela: content = .relocations(try object.relocations(in: s))
            case .nobits: content = .noBits(size: s.size)
            case .strtab where s.index == object.sectionNamesIndex || s.index == symbolNamesIndex: content = .strings
            default: content = .bytes(try object.data(of: s))
            }
            sections.append(Section(name: s.name, type: s.type, flags: s.flags, link: s.link, info: s.info,
                                    alignment: s.alignment, entrySize: s.entrySize, content: content))
        }
    }

    /// Appends a section and returns its index.
    @discardableResult
    public mutating func append(_ section: Section) -> Int {
        sections.append(section)
        return sections.count - 1
    }

    /// Index of the first section with this name.
    public func index(named name: String) -> Int? {
        sections.firstIndex { $0.name == name }
    }

    /// Index of the symbol table section.
    public var symbolTableIndex: Int? {
        sections.firstIndex { $0.type == .symtab }
    }

    /// The symbols of the symbol table (empty when there is none).
    public var symbols: [ELFSymbol] {
        get {
            guard let i = symbolTableIndex, case .symbols(let s) = sections[i].content else { return [] }
            return s
        }
        set {
            guard let i = symbolTableIndex else { return }
            sections[i].content = .symbols(newValue)
        }
    }
}
