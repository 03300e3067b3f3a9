/// A relocation of the differ's model: its target is a real symbol wherever
/// the object allows it (references to a section symbol are rewritten to the
/// function or variable at that place), else the section itself.
struct Reference: Hashable {
    enum Target: Hashable {
        case symbol(Int)
        case section(Int)
    }
    let offset: UInt64
    let type: X86Relocation
    let addend: Int64
    let target: Target

    /// The offset in the target it points at. In code, a PC-relative field is an
    /// instruction's last 4 bytes, so its addend is biased by -4 (`jmp 6f`); in data
    /// (`.long 663f - .` in `.altinstructions`) it is not.
    func place(fromCode: Bool) -> Int64 { fromCode && type.isPCRelative ? addend &+ 4 : addend }
}

/// One input object loaded for diffing: its sections, symbols and references,
/// checked and indexed. The first stage of the pipeline.
final class ObjectModel {
    let elf: ELFObject
    let symbols: [ELFSymbol]
    /// References per section they apply to, sorted by offset.
    let references: [Int: [Reference]]
    /// Defined function/object symbols per section, sorted by value.
    let symbolsInSection: [Int: [Int]]
    /// Defined, named, non-section symbols by name.
    let definedByName: [String: [Int]]
    /// The padding before functions (`__pfx_<fn>`): never a function of its own
    /// (`FunctionEntry`); not correlated, compared or included.
    let padding: Set<Int>
    /// Functions and variables that are a second name for another one
    /// (`init_module` for the module's init function), mapped to it.
    let aliases: [Int: Int]
    let path: String
    /// The translation unit's source file, as its first STT_FILE symbol names it ("" when stripped).
    let sourceFile: String

    var sections: [ELFSection] { elf.sections }

    init(path: String) throws {
        let elf = try ELFObject(path: path, allowedTypes: [.relocatable])
        self.elf = elf
        self.path = path
        let symbols = try elf.symbols()
        self.symbols = symbols
        sourceFile = symbols.first { $0.isFile }?.name ?? ""
        var inSection: [Int: [Int]] = [:]
        var byName: [String: [Int]] = [:]
        for s in symbols where s.isInSection && !s.isSectionSymbol && !s.isFile && !s.name.isEmpty {
            byName[s.name, default: []].append(s.index)
            if s.isFunction || s.isObject { inSection[Int(s.sectionIndex), default: []].append(s.index) }
        }
        for (k, v) in inSection { inSection[k] = v.sorted { symbols[$0].value < symbols[$1].value } }
        symbolsInSection = inSection
        definedByName = byName
        padding = FunctionEntry.paddingSymbols(symbols, inSection: inSection)
        var aliases: [Int: Int] = [:]
        for list in inSection.values where list.count > 1 {
            var byPlace: [UInt64: [Int]] = [:]
            for i in list { byPlace[symbols[i].value, default: []].append(i) }
            for same in byPlace.values where same.count > 1 {
                // The local name is the real one; globals at the same place are aliases.
                let canonical = same.first { symbols[$0].isLocal } ?? same[0]
                for i in same where i != canonical { aliases[i] = canonical }
            }
        }
        self.aliases = aliases

        // Labels of link-time data (`btf_id_deny:` of BTF_SET_START) are untyped and
        // unsized; references to them are kept by name so the patch can reach the
        // running kernel's copy.
        var labels: [Int: [UInt64: Int]] = [:]
        for s in symbols where s.isInSection && !s.isSectionSymbol && !s.isFile && !s.name.isEmpty
            && Int(s.sectionIndex) < elf.sections.count && Self.linkTimeSections.contains(elf.sections[Int(s.sectionIndex)].name) {
            // Of several names at one place, the one the source wrote (not a __BTF_ID__ helper label).
            if let known = labels[Int(s.sectionIndex)]?[s.value], !symbols[known].name.hasPrefix(SymbolNames.btfIDPrefix) { continue }
            labels[Int(s.sectionIndex), default: [:]][s.value] = s.index
        }

        var refs: [Int: [Reference]] = [:]
        for rela in elf.sections where rela.type == .rela {
            let targetIndex = Int(rela.info)
            guard targetIndex > 0, targetIndex < elf.sections.count else {
                throw ELFError.malformed(file: path, what: "relocation section \(rela) applies to section \(rela.info)")
            }
            let target = elf.sections[targetIndex]
            // Debug information and other non-allocated sections never reach the patch.
            guard target.isAllocated else { continue }
            var list: [Reference] = []
            for r in try elf.relocations(in: rela) {
                guard let width = r.type.width else {
                    throw ELFError.unsupported(file: path, what: "relocation type \(r.type.rawValue) at \(target.name)+\(r.offset)")
                }
                let (end, overflow) = r.offset.addingReportingOverflow(UInt64(width))
                guard !overflow, end <= target.size else {
                    throw ELFError.malformed(file: path, what: "relocation at \(target.name)+\(r.offset) lies outside the section (\(target.size) bytes)")
                }
                list.append(ObjectModel.rewrite(r, symbols: symbols, inSection: inSection, labels: labels, sections: elf.sections))
            }
            refs[targetIndex, default: []].append(contentsOf: list)
        }
        for (k, v) in refs { refs[k] = v.sorted { $0.offset < $1.offset } }
        references = refs
    }

    /// A reference to a section symbol becomes a reference to the symbol at
    /// that place when the section has one (always, with -ffunction-sections
    /// and -fdata-sections, for functions and variables).
    private static func rewrite(_ r: ELFRelocation, symbols: [ELFSymbol], inSection: [Int: [Int]],
                                labels: [Int: [UInt64: Int]], sections: [ELFSection]) -> Reference {
        let sym = symbols[r.symbolIndex]
        if sym.isInSection, let places = labels[Int(sym.sectionIndex)] {
            let place = (r.type.isPCRelative ? r.addend &+ 4 : r.addend) &+ Int64(bitPattern: sym.value)
            if place >= 0, let label = places[UInt64(place)] {
                return Reference(offset: r.offset, type: r.type, addend: r.addend &+ Int64(bitPattern: sym.value) &- place,
                                 target: .symbol(label))
            }
        }
        // Local labels (`.LC1` and the like) are places in a section, not symbols of their own.
        if sym.isLocal, sym.type == .notype, sym.isInSection, Int(sym.sectionIndex) < sections.count {
            return Reference(offset: r.offset, type: r.type, addend: r.addend &+ Int64(bitPattern: sym.value),
                             target: .section(Int(sym.sectionIndex)))
        }
        guard sym.isSectionSymbol, sym.isInSection else {
            return Reference(offset: r.offset, type: r.type, addend: r.addend, target: .symbol(r.symbolIndex))
        }
        let section = Int(sym.sectionIndex)
        guard let candidates = inSection[section], !candidates.isEmpty else {
            return Reference(offset: r.offset, type: r.type, addend: r.addend, target: .section(section))
        }
        // PC-relative addends point 4 bytes before the place meant (the rest of the instruction).
        let place = r.type.isPCRelative ? r.addend &+ 4 : r.addend
        let hit = candidates.first { i in
            let s = symbols[i]
            return place >= Int64(bitPattern: s.value) && place < Int64(bitPattern: s.value &+ max(s.size, 1))
        } ?? (candidates.count == 1 && symbols[candidates[0]].value == 0 ? candidates[0] : nil)
        guard let hit else {
            return Reference(offset: r.offset, type: r.type, addend: r.addend, target: .section(section))
        }
        return Reference(offset: r.offset, type: r.type, addend: r.addend &- Int64(bitPattern: symbols[hit].value),
                         target: .symbol(hit))
    }

    /// The references inside a symbol's byte range, offsets relative to the symbol.
    func references(of symbolIndex: Int) -> [Reference] {
        let s = symbols[symbolIndex]
        guard let all = references[Int(s.sectionIndex)] else { return [] }
        let start = s.value, end = s.value &+ s.size
        return all.filter { $0.offset >= start && $0.offset < end }
            .map { Reference(offset: $0.offset - start, type: $0.type, addend: $0.addend, target: $0.target) }
    }

    /// A symbol's bytes (empty for NOBITS), checked against its section.
    func bytes(of symbolIndex: Int) throws -> [UInt8] {
        let s = symbols[symbolIndex]
        let section = try elf.section(at: Int(s.sectionIndex))
        let (end, overflow) = s.value.addingReportingOverflow(s.size)
        guard !overflow, end <= section.size else {
            throw ELFError.malformed(file: path, what: "symbol \(s) (\(s.value)+\(s.size)) lies outside \(section)")
        }
        guard section.occupiesFile else { return [] }
        return try elf.withData(of: section) { Array($0[Int(s.value)..<Int(end)]) }
    }

    /// True when the function calls `__fentry__` in its first bytes (ftrace can redirect it).
    func hasFentryCall(_ symbolIndex: Int) -> Bool {
        references(of: symbolIndex).contains { ref in
            guard ref.offset < 16, case .symbol(let t) = ref.target else { return false }
            return symbols[t].name == "__fentry__"
        }
    }

    /// The NUL-terminated string at `offset` in a string section, nil when out of range.
    func string(in section: Int, at offset: Int64) -> [UInt8]? {
        guard section > 0, section < sections.count, offset >= 0 else { return nil }
        return try? elf.withData(of: sections[section]) { data -> [UInt8]? in
            guard offset < data.count else { return nil }
            let tail = data[Int(offset)...]
            return Array(tail.prefix { $0 != 0 })
        } ?? nil
    }

    /// Data each compilation owns: compiler-private statics (`__func__.N`,
    /// `__already_done.N`, ...) and numbered read-only statics (`__msg.N` of
    /// NL_SET_ERR_MSG). Never correlated; compared by content; copied when used.
    func isPrivate(_ symbolIndex: Int) -> Bool { privateSymbols[symbolIndex] }

    /// `isPrivate` of every symbol, worked out once: every stage asks it of every reference.
    private lazy var privateSymbols: [Bool] = symbols.indices.map(isPrivateByName)

    private func isPrivateByName(_ symbolIndex: Int) -> Bool {
        let s = symbols[symbolIndex]
        if isLinkTimeData(symbolIndex) { return false }
        if SymbolNames.isCompilerPrivate(s.name) { return true }
        guard s.isLocal, s.isObject, s.isInSection, SymbolNames.normalized(s.name) != s.name else { return false }
        return !sections[Int(s.sectionIndex)].flags.contains(.write)
    }

    /// Sections whose contents the kernel's build fills in when it links the
    /// object: `resolve_btfids` writes the BTF ids of `BTF_ID_LIST`/`BTF_SET`
    /// into `.BTF_ids`. A copy in a patch would keep the zeros of the object file,
    /// so the patch always reaches the running kernel's.
    static let linkTimeSections: Set<String> = [".BTF_ids"]

    func isLinkTimeSection(_ sectionIndex: Int) -> Bool {
        sectionIndex > 0 && sectionIndex < sections.count && Self.linkTimeSections.contains(sections[sectionIndex].name)
    }

    func isLinkTimeData(_ symbolIndex: Int) -> Bool {
        let s = symbols[symbolIndex]
        return s.isInSection && isLinkTimeSection(Int(s.sectionIndex))
    }

    /// Data the linker throws away (`.discard.*`: `__ADDRESSABLE()` anchors and the
    /// like): never part of the running kernel, never part of a patch.
    func isDiscarded(_ symbolIndex: Int) -> Bool {
        let name = sectionName(of: symbolIndex)
        return name == ".discard" || name.hasPrefix(".discard.")
    }

    func sectionName(of symbolIndex: Int) -> String {
        let s = symbols[symbolIndex]
        return s.isInSection && Int(s.sectionIndex) < sections.count ? sections[Int(s.sectionIndex)].name : ""
    }
}
