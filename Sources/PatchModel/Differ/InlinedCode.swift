import CElf

/// Where inline functions were inlined in an object file: the section ranges of
/// its `DW_TAG_inlined_subroutine`s. Compared between the original and patched
/// object, it tells that a function's own code is unchanged and its change lies
/// in code inlined from another function.
struct InlinedCode {
    /// One inlined instance: the inline function, and the byte range it covers in its section.
    struct Instance {
        let callee: String
        let range: Range<UInt64>
        /// Not nested in another inlined instance.
        let outermost: Bool
    }

    /// Instances by section index.
    private(set) var instances: [Int: [Instance]] = [:]
    private let file: DwarfFile

    private init(file: DwarfFile) { self.file = file }

    /// nil when the object has no DWARF (nothing to tell).
    static func load(_ model: ObjectModel) throws -> InlinedCode? {
        let file: DwarfFile
        do { file = try DwarfFile(path: model.path) } catch CallGraphError.noDebugInfo { return nil }
        var code = InlinedCode(file: file)
        for offset in file.unitOffsets() {
            var unit = Dwarf_Die()
            guard dwarf_offdie(file.dwarf, offset, &unit) != nil else { continue }
            code.walk(children: &unit, depth: 0)
        }
        return code
    }

    /// The inline function whose inlined code differs between function `o` of
    /// `original` and function `p` of `patched`, when the rest of the function
    /// (its own code) is byte-identical; nil otherwise.
    static func changedCallee(original: ObjectModel, _ o: Int, _ oCode: InlinedCode,
                              patched: ObjectModel, _ p: Int, _ pCode: InlinedCode) throws -> String? {
        let (oOwn, oCallees) = try oCode.split(original, o)
        let (pOwn, pCallees) = try pCode.split(patched, p)
        guard oOwn == pOwn else { return nil }
        return Set(oCallees.keys).union(pCallees.keys).sorted().first { oCallees[$0] != pCallees[$0] }
    }

    /// A function's bytes outside inlined code, and the bytes of each outermost inlined function.
    private func split(_ model: ObjectModel, _ index: Int) throws -> (own: [UInt8], callees: [String: [[UInt8]]]) {
        let s = model.symbols[index]
        let bytes = try model.bytes(of: index)
        var inlined = [Bool](repeating: false, count: bytes.count)
        var callees: [String: [[UInt8]]] = [:]
        for instance in instances[Int(s.sectionIndex)] ?? [] {
            let lower = max(instance.range.lowerBound, s.value), upper = min(instance.range.upperBound, s.value &+ s.size)
            guard lower < upper else { continue }
            let from = Int(lower - s.value), to = Int(upper - s.value)
            for i in from..<to { inlined[i] = true }
            if instance.outermost { callees[instance.callee, default: []].append(Array(bytes[from..<to])) }
        }
        return (zip(bytes, inlined).filter { !$0.1 }.map(\.0), callees)
    }

    private mutating func walk(children parent: inout Dwarf_Die, depth: Int) {
        var die = Dwarf_Die()
        guard dwarf_child(&parent, &die) == 0 else { return }
        repeat {
            switch dwarf_tag(&die) {
            case DwarfTag.subprogram:
                guard dwarf_hasattr(&die, DwarfAttribute.declaration) == 0 else { break }
                walk(children: &die, depth: 0)
            case DwarfTag.inlinedSubroutine:
                if let callee = Self.name(of: &die) {
                    for (section, range) in ranges(of: &die) {
                        instances[section, default: []].append(Instance(callee: callee, range: range, outermost: depth == 0))
                    }
                }
                walk(children: &die, depth: depth + 1)
            case DwarfTag.lexicalBlock:
                walk(children: &die, depth: depth)
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

    /// The DIE's address ranges as (section index, offsets in that section).
    private func ranges(of die: inout Dwarf_Die) -> [(Int, Range<UInt64>)] {
        var base: Dwarf_Addr = 0, start: Dwarf_Addr = 0, end: Dwarf_Addr = 0
        var offset = 0
        var result: [(Int, Range<UInt64>)] = []
        while true {
            offset = dwarf_ranges(&die, offset, &base, &start, &end)
            guard offset > 0 else { break }
            // libdwfl laid the sections out at addresses of its own: back to section + offset.
            var address = start &+ file.bias
            let index = dwfl_module_relocate_address(file.module, &address)
            var shndx: GElf_Word = 0
            guard index >= 0, end > start, dwfl_module_relocation_info(file.module, UInt32(index), &shndx) != nil else { continue }
            result.append((Int(shndx), address..<(address &+ (end &- start))))
        }
        return result
    }
}
