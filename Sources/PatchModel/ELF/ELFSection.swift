/// One section header, by value. `index` is its position in the section table.
public struct ELFSection: Hashable, Sendable, CustomStringConvertible {
    public let index: Int
    public let name: String
    public let type: SectionType
    public let flags: SectionFlags
    public let address: UInt64
    public let offset: UInt64
    public let size: UInt64
    public let link: UInt32
    public let info: UInt32
    public let alignment: UInt64
    public let entrySize: UInt64

    /// The largest sh_addralign the reader accepts (kernel objects use at most 2 MiB).
    public static let maxAlignment: UInt64 = 1 << 30

    public var isAllocated: Bool { flags.contains(.alloc) }
    public var isExecutable: Bool { flags.contains(.execInstr) }
    public var isRelocation: Bool { type == .rela || type == .rel }
    /// NOBITS sections (.bss) take no bytes in the file.
    public var occupiesFile: Bool { type != .nobits && type != .null }

    public var description: String { "[\(index)] \(name)" }
}

/// One symbol table entry, by value. `index` is its position in the symbol table.
public struct ELFSymbol: Hashable, Sendable, CustomStringConvertible {
    public let index: Int
    public let name: String
    public let value: UInt64
    public let size: UInt64
    public let type: SymbolType
    public let binding: SymbolBinding
    /// st_other (visibility in the low bits).
    public let other: UInt8
    /// st_shndx: a section index or one of `SpecialSection`.
    public let sectionIndex: UInt16

    public init(index: Int, name: String, value: UInt64, size: UInt64, type: SymbolType,
                binding: SymbolBinding, other: UInt8 = 0, sectionIndex: UInt16) {
        self.index = index
        self.name = name
        self.value = value
        self.size = size
        self.type = type
        self.binding = binding
        self.other = other
        self.sectionIndex = sectionIndex
    }

    public var isUndefined: Bool { sectionIndex == SpecialSection.undefined && index != 0 }
    /// Defined in a real section of the object (not undefined, absolute or common).
    public var isInSection: Bool { sectionIndex != SpecialSection.undefined && sectionIndex < SpecialSection.loReserve }
    public var isLocal: Bool { binding == .local }
    public var isFunction: Bool { type == .function }
    public var isObject: Bool { type == .object }
    public var isSectionSymbol: Bool { type == .section }
    public var isFile: Bool { type == .file }

    public var description: String { name.isEmpty ? "symbol #\(index)" : name }
}

/// One RELA entry. `symbolIndex` indexes the symbol table the section links to.
public struct ELFRelocation: Hashable, Sendable {
    public let offset: UInt64
    public let type: X86Relocation
    public let symbolIndex: Int
    public let addend: Int64

    public init(offset: UInt64, type: X86Relocation, symbolIndex: Int, addend: Int64) {
        self.offset = offset
        self.type = type
        self.symbolIndex = symbolIndex
        self.addend = addend
    }
}
