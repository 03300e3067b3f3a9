/// ELF constants the project uses, each named once. Values are fixed by the
/// System V ABI, its x86-64 supplement and the kernel's livepatch ABI.

/// `sh_type`.
public struct SectionType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let null = SectionType(rawValue: 0)
    public static let progbits = SectionType(rawValue: 1)
    public static let symtab = SectionType(rawValue: 2)
    public static let strtab = SectionType(rawValue: 3)
    public static let rela = SectionType(rawValue: 4)
    public static let hash = SectionType(rawValue: 5)
    public static let dynamic = SectionType(rawValue: 6)
    public static let note = SectionType(rawValue: 7)
    public static let nobits = SectionType(rawValue: 8)
    public static let rel = SectionType(rawValue: 9)
    public static let dynsym = SectionType(rawValue: 11)
    public static let initArray = SectionType(rawValue: 14)
    public static let finiArray = SectionType(rawValue: 15)
    public static let group = SectionType(rawValue: 17)
    public static let symtabShndx = SectionType(rawValue: 18)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .progbits: return "PROGBITS"
        case .symtab: return "SYMTAB"
        case .strtab: return "STRTAB"
        case .rela: return "RELA"
        case .nobits: return "NOBITS"
        case .rel: return "REL"
        case .group: return "GROUP"
        case .note: return "NOTE"
        default: return "type \(rawValue)"
        }
    }
}

/// `sh_flags`.
public struct SectionFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let write = SectionFlags(rawValue: 0x1)            // SHF_WRITE
    public static let alloc = SectionFlags(rawValue: 0x2)            // SHF_ALLOC
    public static let execInstr = SectionFlags(rawValue: 0x4)        // SHF_EXECINSTR
    public static let merge = SectionFlags(rawValue: 0x10)           // SHF_MERGE
    public static let strings = SectionFlags(rawValue: 0x20)         // SHF_STRINGS
    public static let infoLink = SectionFlags(rawValue: 0x40)        // SHF_INFO_LINK
    public static let linkOrder = SectionFlags(rawValue: 0x80)       // SHF_LINK_ORDER
    public static let group = SectionFlags(rawValue: 0x200)          // SHF_GROUP
    /// SHF_RELA_LIVEPATCH: a relocation section the livepatch core applies.
    public static let relaLivepatch = SectionFlags(rawValue: 0x0010_0000)
}

/// Special `st_shndx` / section index values.
public enum SpecialSection {
    public static let undefined: UInt16 = 0          // SHN_UNDEF
    public static let loReserve: UInt16 = 0xff00     // SHN_LORESERVE
    /// SHN_LIVEPATCH: a symbol the livepatch core resolves through kallsyms.
    public static let livepatch: UInt16 = 0xff20
    public static let absolute: UInt16 = 0xfff1      // SHN_ABS
    public static let common: UInt16 = 0xfff2        // SHN_COMMON
    public static let extendedIndex: UInt16 = 0xffff // SHN_XINDEX
}

/// `ELF64_ST_TYPE`.
public struct SymbolType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let notype = SymbolType(rawValue: 0)
    public static let object = SymbolType(rawValue: 1)
    public static let function = SymbolType(rawValue: 2)
    public static let section = SymbolType(rawValue: 3)
    public static let file = SymbolType(rawValue: 4)
    public static let common = SymbolType(rawValue: 5)
    public static let tls = SymbolType(rawValue: 6)

    public var description: String {
        ["NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE", "COMMON", "TLS"].indices.contains(Int(rawValue))
            ? ["NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE", "COMMON", "TLS"][Int(rawValue)] : "type \(rawValue)"
    }
}

/// `ELF64_ST_BIND`.
public struct SymbolBinding: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let local = SymbolBinding(rawValue: 0)
    public static let global = SymbolBinding(rawValue: 1)
    public static let weak = SymbolBinding(rawValue: 2)
}

/// `e_type`.
public struct ObjectFileType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let relocatable = ObjectFileType(rawValue: 1)   // ET_REL
    public static let executable = ObjectFileType(rawValue: 2)    // ET_EXEC
    public static let shared = ObjectFileType(rawValue: 3)        // ET_DYN

    public var description: String {
        switch self {
        case .relocatable: return "ET_REL"
        case .executable: return "ET_EXEC"
        case .shared: return "ET_DYN"
        default: return "e_type \(rawValue)"
        }
    }
}

/// The identity checks every input passes.
enum ELFIdentity {
    static let class64: UInt8 = 2        // ELFCLASS64
    static let littleEndian: UInt8 = 1   // ELFDATA2LSB
    static let machineX86_64: UInt16 = 62 // EM_X86_64
    static let symbolEntrySize: UInt64 = 24  // sizeof(Elf64_Sym)
    static let relaEntrySize: UInt64 = 24    // sizeof(Elf64_Rela)
}

/// x86-64 relocation types (`ELF64_R_TYPE`).
public struct X86Relocation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let none = X86Relocation(rawValue: 0)
    public static let abs64 = X86Relocation(rawValue: 1)           // R_X86_64_64
    public static let pc32 = X86Relocation(rawValue: 2)            // R_X86_64_PC32
    public static let plt32 = X86Relocation(rawValue: 4)           // R_X86_64_PLT32
    public static let gotpcrel = X86Relocation(rawValue: 9)        // R_X86_64_GOTPCREL
    public static let abs32 = X86Relocation(rawValue: 10)          // R_X86_64_32
    public static let abs32s = X86Relocation(rawValue: 11)         // R_X86_64_32S
    public static let pc64 = X86Relocation(rawValue: 24)           // R_X86_64_PC64
    public static let gotpcrelx = X86Relocation(rawValue: 41)      // R_X86_64_GOTPCRELX
    public static let rexGotpcrelx = X86Relocation(rawValue: 42)   // R_X86_64_REX_GOTPCRELX

    /// Bytes the relocation patches at r_offset, nil for types we do not handle.
    public var width: Int? {
        switch self {
        case .none: return 0
        case .abs64, .pc64: return 8
        case .pc32, .plt32, .abs32, .abs32s, .gotpcrel, .gotpcrelx, .rexGotpcrelx: return 4
        default: return nil
        }
    }

    /// PC-relative types, whose addend includes the distance to the next instruction.
    public var isPCRelative: Bool { self == .pc32 || self == .plt32 || self == .pc64 }

    public var description: String {
        switch self {
        case .none: return "R_X86_64_NONE"
        case .abs64: return "R_X86_64_64"
        case .pc32: return "R_X86_64_PC32"
        case .plt32: return "R_X86_64_PLT32"
        case .abs32: return "R_X86_64_32"
        case .abs32s: return "R_X86_64_32S"
        case .pc64: return "R_X86_64_PC64"
        default: return "R_X86_64 type \(rawValue)"
        }
    }
}
