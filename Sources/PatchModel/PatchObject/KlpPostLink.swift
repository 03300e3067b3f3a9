import FoundationEssentials

/// The post-link pass: turns the `.note.kpatch.klp.*` records of a linked patch
/// module (see `KlpRecords`, docs/PATCH-OBJECT.md) into the form the
/// kernel's livepatch core applies: `.klp.rela.<object>.<section>` sections
/// (SHF_RELA_LIVEPATCH | SHF_ALLOC | SHF_INFO_LINK) against
/// `.klp.sym.<object>.<name>,<sympos>` symbols in SHN_LIVEPATCH. Run it last:
/// nothing may rewrite the symbol table afterwards (the relocations refer to
/// symbol indices).
public struct KlpPostLink {
    public struct Result: Codable, Equatable {
        /// `.klp.rela.*` sections written, with their relocation counts.
        public let sections: [String: Int]
        /// `.klp.sym.*` symbols added.
        public let symbols: [String]
    }

    public enum PostLinkError: Error, CustomStringConvertible, Equatable {
        case badRecord(file: String, record: Int, what: String)
        /// An ordinary relocation or symbol naming a klp symbol that no record explains: the
        /// loader would resolve it as an ordinary (weak: zero) symbol.
        case strayReference(file: String, place: String, symbol: String)

        public var description: String {
            switch self {
            case .badRecord(let f, let r, let what): return "\(f): livepatch relocation record \(r): \(what)"
            case .strayReference(let f, let place, let symbol):
                return "\(f): \(place) refers to \(symbol), which no livepatch relocation record matches (same place, type and addend)"
            }
        }
    }

    public init() {}

    /// Rewrites `module` (a linked `.ko`) into `output`, in place when nil.
    @discardableResult
    public func run(module: URL, output: URL? = nil) throws -> Result {
        let path = module.path
        let object = try ELFObject(path: path, allowedTypes: [.relocatable])
        var image = try ELFImage(object: object)
        guard let recordsSection = object.section(named: KlpRecords.recordsSection),
              let stringsSection = object.section(named: KlpRecords.stringsSection) else {
            try ELFWriter.write(image, to: (output ?? module).path)
            return Result(sections: [:], symbols: [])
        }
        let records = try object.data(of: recordsSection)
        let strings = try object.data(of: stringsSection)
        guard records.count % KlpRecords.recordSize == 0 else {
            throw PostLinkError.badRecord(file: path, record: 0, what: "\(recordsSection) is not a whole number of records")
        }
        let symbols = image.symbols
        var fieldTargets: [UInt64: ELFRelocation] = [:]
        let recordRelocations = object.relocationSection(for: recordsSection)
        if let recordRelocations {
            for r in try object.relocations(in: recordRelocations) { fieldTargets[r.offset] = r }
        }

        // Decode every record: where to patch, against which klp symbol, how.
        struct Entry { let record: Int; let section: Int; let offset: UInt64; let type: X86Relocation; let addend: Int64; let name: String }
        var entries: [Entry] = []
        for record in 0..<(records.count / KlpRecords.recordSize) {
            let base = record * KlpRecords.recordSize
            guard let place = fieldTargets[UInt64(base + KlpRecords.placeField)],
                  let name = fieldTargets[UInt64(base + KlpRecords.nameField)] else {
                throw PostLinkError.badRecord(file: path, record: record, what: "a field has no relocation")
            }
            let placeSymbol = symbols[place.symbolIndex], nameSymbol = symbols[name.symbolIndex]
            guard placeSymbol.isInSection, Int(placeSymbol.sectionIndex) < object.sections.count,
                  ![recordsSection.index, stringsSection.index, recordRelocations?.index].contains(Int(placeSymbol.sectionIndex)),
                  Int(nameSymbol.sectionIndex) == stringsSection.index else {
                throw PostLinkError.badRecord(file: path, record: record, what: "a field points outside its section")
            }
            let offset = UInt64(bitPattern: Int64(bitPattern: placeSymbol.value) &+ place.addend)
            let nameOffset = Int64(bitPattern: nameSymbol.value) &+ name.addend
            let target = object.sections[Int(placeSymbol.sectionIndex)]
            guard let width = KlpRecords.fields(of: records, at: base).type.width, offset &+ UInt64(width) <= target.size,
                  nameOffset >= 0, nameOffset < strings.count else {
                throw PostLinkError.badRecord(file: path, record: record, what: "place \(target.name)+\(offset) or name offset \(nameOffset) out of range")
            }
            let klpName = String(decoding: strings[Int(nameOffset)...].prefix { $0 != 0 }, as: UTF8.self)
            guard klpName.hasPrefix(".klp.sym."), klpName.contains(",") else {
                throw PostLinkError.badRecord(file: path, record: record, what: "\(klpName) is not a .klp.sym name")
            }
            let fields = KlpRecords.fields(of: records, at: base)
            entries.append(Entry(record: record, section: target.index, offset: offset, type: fields.type, addend: fields.addend, name: klpName))
        }

        // A branch's anchor (the ordinary relocation the differ gave it so that objtool could
        // follow it on the linked module; see PatchObjectWriter) leaves: the klp relocation
        // takes its place, over a field the loader requires to be zero.
        for e in entries where object.sections[e.section].occupiesFile {
            let field = try object.withData(of: object.sections[e.section]) { Array($0[Int(e.offset)..<Int(e.offset) + e.type.width!]) }
            guard field.allSatisfy({ $0 == 0 }) else {
                throw PostLinkError.badRecord(file: path, record: e.record, what: "\(e.name) at \(object.sections[e.section].name)+\(e.offset): the field is not zero (the module loader refuses a relocation over a non-zero field)")
            }
        }
        var removed: Set<Int> = [recordsSection.index, stringsSection.index]
        if let recordRelocations { removed.insert(recordRelocations.index) }
        let byPlace = Dictionary(entries.map { ("\($0.section):\($0.offset)", $0) }, uniquingKeysWith: { a, _ in a })
        for (i, section) in image.sections.enumerated() where !removed.contains(i) {
            guard case .relocations(let list) = section.content, Int(section.link) == image.symbolTableIndex else { continue }
            var kept: [ELFRelocation] = []
            for r in list {
                let symbol = symbols[r.symbolIndex]
                guard symbol.name.hasPrefix(".klp.sym.") else { kept.append(r); continue }
                guard symbol.isUndefined, symbol.binding == .weak, let e = byPlace["\(section.info):\(r.offset)"],
                      e.name == symbol.name, e.type == r.type, e.addend == r.addend else {
                    throw PostLinkError.strayReference(file: path, place: "\(section.name)+\(r.offset)", symbol: symbol.name)
                }
            }
            if kept.count < list.count {
                image.sections[i].content = .relocations(kept)
                if kept.isEmpty { removed.insert(i) }
            }
        }

        // Drop the records, then add the klp symbols and sections.
        // Sections after a removed one move down by the number removed before them.
        func newIndex(_ old: Int) -> Int { old - removed.filter { $0 < old }.count }
        image = try image.removingSections(removed, file: path)

        var all = image.symbols
        var klpIndex: [String: Int] = [:]
        // An anchor's weak symbol becomes the klp symbol, at its index; any other is added.
        for s in all where s.name.hasPrefix(".klp.sym.") {
            guard s.isUndefined, s.binding == .weak, entries.contains(where: { $0.name == s.name }) else {
                throw PostLinkError.strayReference(file: path, place: "the symbol table", symbol: s.name)
            }
            klpIndex[s.name] = s.index
            all[s.index] = ELFSymbol(index: s.index, name: s.name, value: 0, size: 0, type: .notype, binding: .global,
                                     sectionIndex: SpecialSection.livepatch)
        }
        for name in Set(entries.map(\.name)).sorted() where klpIndex[name] == nil {
            klpIndex[name] = all.count
            all.append(ELFSymbol(index: all.count, name: name, value: 0, size: 0, type: .notype, binding: .global,
                                 sectionIndex: SpecialSection.livepatch))
        }
        image.symbols = all
        guard let symtab = image.symbolTableIndex else {
            throw PostLinkError.badRecord(file: path, record: 0, what: "the module has no symbol table")
        }
        var bySection: [String: (target: Int, relocations: [ELFRelocation])] = [:]
        for e in entries {
            let objectName = e.name.dropFirst(".klp.sym.".count).prefix { $0 != "." }
            let target = newIndex(e.section)
            let sectionName = ".klp.rela.\(objectName).\(image.sections[target].name.drop { $0 == "." })"
            bySection[sectionName, default: (target, [])].relocations.append(
                ELFRelocation(offset: e.offset, type: e.type, symbolIndex: klpIndex[e.name]!, addend: e.addend))
        }
        for (name, group) in bySection.sorted(by: { $0.key < $1.key }) {
            image.append(.init(name: name, type: .rela, flags: [.alloc, .infoLink, .relaLivepatch], link: UInt32(symtab),
                               info: UInt32(group.target), alignment: 8, entrySize: ELFIdentity.relaEntrySize,
                               content: .relocations(group.relocations.sorted { $0.offset < $1.offset })))
        }
        try ELFWriter.write(image, to: (output ?? module).path)
        return Result(sections: bySection.mapValues { $0.relocations.count }, symbols: klpIndex.keys.sorted())
    }
}
