/// Entry sizes of the kernel's special sections (tables of fixed-size entries
/// pointing into functions). Struct sizes come from the target kernel's BTF;
/// objtool's sections carry their own `sh_entsize`, which wins when set.
public struct SpecialSectionLayout: Sendable {
    /// Entry size by section name.
    public let entrySizes: [String: Int]
    /// Sections whose struct this kernel's BTF lacks (`.parainstructions` from 6.8 on:
    /// paravirt patching moved into the alternatives): refused if an object has one.
    public private(set) var missingStructs: [String: LayoutError] = [:]
    /// Where `struct alt_instr` keeps its replacement's offset and length (6.1: 4 and 11 of
    /// 12 bytes; 6.12: 4 and 13 of 14), from BTF: a replacement's extent in
    /// `.altinstr_replacement` (empty ones are common: static_cpu_has()'s ternary). Nil
    /// when not known (a layout of sizes only).
    public private(set) var alternativeFields: AlternativeFields?

    public struct AlternativeFields: Sendable, Equatable {
        public let replacement: Int
        public let replacementLength: Int
    }

    /// Sections whose entries are instances of a kernel struct.
    static let structs: [String: String] = [
        "__jump_table": "jump_entry",
        "__ex_table": "exception_table_entry",
        "__bug_table": "bug_entry",
        ".altinstructions": "alt_instr",
        ".parainstructions": "paravirt_patch_site",
        ".static_call_sites": "static_call_site",
        ".orc_unwind": "orc_entry",
    ]
    /// Arrays of s32 offsets (`extern s32 __return_sites[]` and the like).
    static let offsetArrays = [".smp_locks", ".retpoline_sites", ".return_sites", ".orc_unwind_ip", ".call_sites", ".ibt_endbr_seal"]
    /// Arrays of pointers.
    static let pointerArrays = ["__mcount_loc"]

    static let offsetSize = MemoryLayout<Int32>.size
    static let pointerSize = MemoryLayout<UInt64>.size

    public enum LayoutError: Error, CustomStringConvertible, Equatable, Sendable {
        case missingStruct(source: String, name: String, section: String)
        /// An explicit size for a struct that is not a special section's, or not positive.
        case unknownStruct(name: String, size: Int)

        public var description: String {
            switch self {
            case .missingStruct(let source, let name, let section):
                return "\(source): no struct \(name), needed for the entry size of \(section)"
            case .unknownStruct(let name, let size):
                return "struct \(name) (\(size) bytes) is not the entry of a special section the differ knows (\(Set(SpecialSectionLayout.structs.values).sorted().joined(separator: ", ")))"
            }
        }
    }

    public init(entrySizes: [String: Int]) { self.entrySizes = entrySizes }

    /// This layout with some structs' sizes given explicitly, by kernel struct name
    /// (`jump_entry`: 16): for objects of a kernel other than the one whose BTF this
    /// layout was read from, as kpatch's unit-test harness passes `JUMP_STRUCT_SIZE` and
    /// the like. A struct this kernel lacked becomes known.
    public func overriding(structSizes: [String: Int]) throws -> SpecialSectionLayout {
        var sizes = entrySizes
        var missing = missingStructs
        for (type, size) in structSizes {
            let sections = Self.structs.filter { $0.value == type }.map(\.key)
            guard !sections.isEmpty, size > 0 else { throw LayoutError.unknownStruct(name: type, size: size) }
            for section in sections {
                sizes[section] = size
                missing[section] = nil
            }
        }
        var layout = SpecialSectionLayout(entrySizes: sizes)
        layout.missingStructs = missing
        // Kept while the entry still holds them: older kernels' 13-byte alt_instr (u16 cpuid,
        // the two lengths, then padlen) has them where 6.1's 12-byte one does.
        if let fields = alternativeFields, let size = sizes[".altinstructions"], fields.replacementLength < size {
            layout.alternativeFields = fields
        }
        return layout
    }

    /// The layout of the kernel described by `btf` (e.g. the debug vmlinux's `.BTF`).
    public init(btf: BTFTypes) throws {
        var sizes: [String: Int] = [:]
        var missing: [String: LayoutError] = [:]
        let structSizes = btf.structSizes(named: Set(SpecialSectionLayout.structs.values))
        for (section, type) in SpecialSectionLayout.structs {
            guard let size = structSizes[type], size > 0 else {
                missing[section] = LayoutError.missingStruct(source: btf.source, name: type, section: section)
                continue
            }
            sizes[section] = size
        }
        for s in SpecialSectionLayout.offsetArrays { sizes[s] = SpecialSectionLayout.offsetSize }
        for s in SpecialSectionLayout.pointerArrays { sizes[s] = SpecialSectionLayout.pointerSize }
        entrySizes = sizes
        missingStructs = missing
        if let replacement = btf.memberOffset(structure: "alt_instr", member: "repl_offset"),
           let length = btf.memberOffset(structure: "alt_instr", member: "replacementlen") {
            alternativeFields = AlternativeFields(replacement: replacement, replacementLength: length)
        }
    }

    /// The largest sh_entsize taken from a file (found by the fuzzer: a huge one trapped).
    static let maxFileEntrySize: UInt64 = 1 << 20

    /// The entry size of `section` in `file`, nil when it is not a special section.
    func entrySize(of section: ELFSection, file: String) throws -> Int? {
        if let missing = missingStructs[section.name] { throw missing }
        guard let known = entrySizes[section.name] else { return nil }
        guard section.entrySize > 0 else { return known }
        guard section.entrySize <= Self.maxFileEntrySize else {
            throw ELFError.malformed(file: file, what: "\(section) has an entry size of \(section.entrySize) bytes")
        }
        return Int(section.entrySize)
    }
}
