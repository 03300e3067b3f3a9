extension ELFImage {
    /// The image without the sections at `removed`, every section index,
    /// symbol index and relocation renumbered. Only section symbols may live
    /// in removed sections; relocations against removed symbols are an error.
    public func removingSections(_ removed: Set<Int>, file: String) throws -> ELFImage {
        guard !removed.contains(0), !removed.contains(sectionNamesIndex) else {
            throw ELFError.cannotWrite(file: file, what: "cannot remove the null section or the section name table")
        }
        var sectionMap: [Int: Int] = [:]
        for i in sections.indices where !removed.contains(i) { sectionMap[i] = sectionMap.count }

        var symbolMap: [Int: Int] = [:]
        var keptSymbols: [ELFSymbol] = []
        for (i, s) in symbols.enumerated() {
            let inSection = s.sectionIndex != SpecialSection.undefined && s.sectionIndex < SpecialSection.loReserve
            if inSection, removed.contains(Int(s.sectionIndex)) {
                guard s.isSectionSymbol else {
                    throw ELFError.cannotWrite(file: file, what: "symbol \(s) is defined in a section being removed")
                }
                continue
            }
            let newSection = inSection ? UInt16(sectionMap[Int(s.sectionIndex)]!) : s.sectionIndex
            symbolMap[i] = keptSymbols.count
            keptSymbols.append(ELFSymbol(index: keptSymbols.count, name: s.name, value: s.value, size: s.size, type: s.type,
                                         binding: s.binding, other: s.other, sectionIndex: newSection))
        }

        var result = self
        result.sections = []
        for (i, var s) in sections.enumerated() where !removed.contains(i) {
            if s.link != 0 {
                guard let link = sectionMap[Int(s.link)] else {
                    throw ELFError.cannotWrite(file: file, what: "section \(s.name) links to removed section \(s.link)")
                }
                s.link = UInt32(link)
            }
            switch s.content {
            case .symbols: s.content = .symbols(keptSymbols)
            case .relocations(let list):
                guard let info = sectionMap[Int(s.info)] else {
                    throw ELFError.cannotWrite(file: file, what: "relocation section \(s.name) applies to a removed section")
                }
                s.info = UInt32(info)
                s.content = .relocations(try list.map { r in
                    guard let symbol = symbolMap[r.symbolIndex] else {
                        throw ELFError.cannotWrite(file: file, what: "relocation in \(s.name) at \(r.offset) refers to a removed symbol")
                    }
                    return ELFRelocation(offset: r.offset, type: r.type, symbolIndex: symbol, addend: r.addend)
                })
            default:
                if s.type == .group, let symbol = symbolMap[Int(s.info)] { s.info = UInt32(symbol) }
                else if s.flags.contains(.infoLink), let info = sectionMap[Int(s.info)] { s.info = UInt32(info) }
            }
            result.sections.append(s)
        }
        result.sectionNamesIndex = sectionMap[sectionNamesIndex]!
        return result
    }
}
