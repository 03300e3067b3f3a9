import CElf

/// For each function of an object file, the code each inline function
/// contributes to it (the bytes of the address ranges of its
/// `DW_TAG_inlined_subroutine`s). Compared between the original and patched
/// object, it tells that a function's code changed where a changed inline
/// function was inlined.
struct InlinedCode {
    /// Function name (DWARF name: `foo` for `foo.isra.0`) -> inlined function -> the bytes of its instances.
    private(set) var code: [String: [String: [[UInt8]]]] = [:]
    private let file: DwarfFile
    private let elf: ELFObject

    private init(file: DwarfFile, elf: ELFObject) {
        self.file = file
        self.elf = elf
    }

    /// nil when the object has no DWARF (nothing to tell).
    static func load(_ model: ObjectModel) throws -> InlinedCode? {
        let file: DwarfFile
        do { file = try DwarfFile(path: model.path) } catch CallGraphError.noDebugInfo { return nil }
        var code = InlinedCode(file: file, elf: model.elf)
        for offset in file.unitOffsets() {
            var unit = Dwarf_Die()
            guard dwarf_offdie(file.dwarf, offset, &unit) != nil else { continue }
            try code.walk(children: &unit, function: nil)
        }
        return code
    }

    /// The inline function whose inlined code in `function` differs between the
    /// two objects (the first by name), nil when none does.
    static func changedCallee(of function: String, original: InlinedCode, patched: InlinedCode) -> String? {
        let name = SymbolNames.base(function)
        let o = original.code[name] ?? [:], p = patched.code[name] ?? [:]
        return Set(o.keys).union(p.keys).sorted().first { o[$0] != p[$0] }
    }

    private mutating func walk(children parent: inout Dwarf_Die, function: String?) throws {
        var die = Dwarf_Die()
        guard dwarf_child(&parent, &die) == 0 else { return }
        repeat {
            switch dwarf_tag(&die) {
            case DwarfTag.subprogram:
                guard dwarf_hasattr(&die, DwarfAttribute.declaration) == 0, let name = Self.name(of: &die) else { break }
                try walk(children: &die, function: function ?? name)
            case DwarfTag.inlinedSubroutine:
                if let function, let callee = Self.name(of: &die) {
                    code[function, default: [:]][callee, default: []].append(try bytes(of: &die))
                }
                try walk(children: &die, function: function)
            case DwarfTag.lexicalBlock:
                try walk(children: &die, function: function)
            default:
                break
            }
        } while withUnsafeMutablePointer(to: &die, { dwarf_siblingof($0, $0) == 0 })
    }

    /// DW_AT_name, following DW_AT_abstract_origin/specification.
    private static func name(of die: inout Dwarf_Die) -> String? {
        var attr = Dwarf_Attribute()
        guard dwarf_attr_integrate(&die, UInt32(DW_AT_name), &attr) != nil, let s = dwarf_formstring(&attr) else { return nil }
        return String(cString: s)
    }

    /// The bytes of code the DIE covers (all its address ranges, in the object's sections).
    private func bytes(of die: inout Dwarf_Die) throws -> [UInt8] {
        var base: Dwarf_Addr = 0, start: Dwarf_Addr = 0, end: Dwarf_Addr = 0
        var offset = 0
        var result: [UInt8] = []
        while true {
            offset = dwarf_ranges(&die, offset, &base, &start, &end)
            guard offset > 0 else { break }
            // libdwfl laid the sections out at addresses of its own: back to section + offset.
            var address = start &+ file.bias
            let index = dwfl_module_relocate_address(file.module, &address)
            var shndx: GElf_Word = 0
            guard index >= 0, dwfl_module_relocation_info(file.module, UInt32(index), &shndx) != nil,
                  Int(shndx) < elf.sections.count else { continue }
            let section = elf.sections[Int(shndx)]
            let from = Int(address), to = from + Int(end &- start)
            guard section.occupiesFile, from >= 0, to <= Int(section.size), from <= to else { continue }
            result += try elf.withData(of: section) { Array($0[from..<to]) }
        }
        return result
    }
}
