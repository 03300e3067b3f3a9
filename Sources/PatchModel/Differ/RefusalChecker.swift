/// Stage "refuse": changes a live patch cannot carry safely, each named with
/// what to do instead. Deny by default: anything here fails the diff. (Changed
/// notrace functions are the `NotraceRedirector`'s.)
struct RefusalChecker {
    let original: ObjectModel
    let patched: ObjectModel
    let correlation: Correlation
    let status: [Int: SymbolChange]
    /// Patched symbols the author marked as ignored (KPATCH_IGNORE_*): never refused.
    var ignored: Set<Int> = []

    func refusals() throws -> [Refusal] {
        var result: [Refusal] = []
        for (p, o) in correlation.patchedToOriginal.sorted(by: { $0.key < $1.key }) where patched.aliases[p] == nil && !ignored.contains(p) {
            let ps = patched.symbols[p], os = original.symbols[o]
            let pSection = patched.sectionName(of: p), oSection = original.sectionName(of: o)
            if SectionKind(oSection) != SectionKind(pSection) {
                result.append(Refusal(kind: .movedSection, symbol: os.name, section: pSection,
                    reason: "moves from section \(oSection) to \(pSection)",
                    advice: "keep \(os.name) where it was (same const-ness, initializer and section attributes), or add a new symbol instead"))
                continue
            }
            if ps.isObject {
                if ps.size != os.size {
                    result.append(Refusal(kind: .sizeChanged, symbol: os.name, section: pSection,
                        reason: "size changes from \(os.size) to \(ps.size) bytes; the running code and data use the old layout",
                        advice: "keep the variable's type as it is; put new state in a shadow variable (klp_shadow_*) or a new variable"))
                } else if status[p] == .changed {
                    result.append(Refusal(kind: .changedData, symbol: os.name, section: pSection,
                        reason: "initial value changes; a live patch does not rewrite data the running kernel already uses",
                        advice: "leave the initializer alone and change the value from code (e.g. a klp callback), or add a new variable"))
                }
                continue
            }
            guard ps.isFunction, status[p] == .changed, SymbolNames.coldParent(of: ps.name) == nil else { continue }
            let kind = SectionKind(pSection)
            if kind == .initText || kind == .exitText {
                result.append(Refusal(kind: .initExitCode, symbol: os.name, section: pSection,
                    reason: "is \(kind == .initText ? "__init" : "__exit") code: it has run already or is not resident, so there is nothing to patch",
                    advice: "move the fix into a function called after initialization, or apply it by reloading the module"))
            }
        }
        result += sectionGroupRefusals()
        result += exportTableRefusals()
        return result
    }

    /// SHT_GROUP sections by signature, with their member section names.
    private func groups(_ model: ObjectModel) throws -> [String: [String]] {
        var map: [String: [String]] = [:]
        for s in model.sections where s.type == .group {
            guard Int(s.info) < model.symbols.count else {
                throw ELFError.malformed(file: model.path, what: "group \(s) names symbol \(s.info)")
            }
            let bytes = try model.elf.data(of: s)
            var members: [String] = []
            var i = 4  // the first word is the GRP_COMDAT flag
            while i + 4 <= bytes.count {
                let index = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
                members.append(index < model.sections.count ? model.sections[index].name : "#\(index)")
                i += 4
            }
            map[signature(of: model.symbols[Int(s.info)], in: model), default: []] += members.sorted()
        }
        return map
    }

    /// The group's signature; the assembler may name it by a section symbol,
    /// then the function or variable of that section is what the user wrote.
    private func signature(of symbol: ELFSymbol, in model: ObjectModel) -> String {
        guard symbol.isSectionSymbol, symbol.isInSection else { return symbol.name }
        let section = Int(symbol.sectionIndex)
        if let first = model.symbolsInSection[section]?.first { return model.symbols[first].name }
        return model.sections[section].name
    }

    private func sectionGroupRefusals() -> [Refusal] {
        let o: [String: [String]], p: [String: [String]]
        do { (o, p) = (try groups(original), try groups(patched)) } catch {
            // Deny by default: groups that cannot be read cannot be shown unchanged.
            return [Refusal(kind: .sectionGroup, symbol: "(unreadable)", section: nil,
                            reason: "cannot read the section groups: \(error)",
                            advice: "check the compiler and the object files; avoid COMDAT/section-group constructs in the fix")]
        }
        return p.keys.sorted().compactMap { signature in
            guard o[signature] != p[signature] else { return nil }
            return Refusal(kind: .sectionGroup, symbol: signature, section: p[signature]?.first,
                reason: o[signature] == nil ? "adds section group \(signature)" : "changes section group \(signature)",
                advice: "avoid COMDAT/section-group constructs in the fix (inline the code or make it static)")
        }
    }

    /// Exports show up as `___ksymtab[_gpl]+name` sections. A new function may be
    /// exported: the patch module exports it (`Includer` carries its entry). An export
    /// added to a symbol the running object already has is refused: the running
    /// object's copy cannot be exported, and other modules would bind to another one.
    /// A removed export changes nothing the patch can do: the running object keeps it.
    private func exportTableRefusals() -> [Refusal] {
        let o = Set(original.sections.compactMap { ExportEntry(section: $0.name) }),
            p = Set(patched.sections.compactMap { ExportEntry(section: $0.name) })
        return p.subtracting(o).sorted { $0.section < $1.section }.compactMap { entry in
            let defined = patched.definedByName[entry.symbol] ?? []
            if defined.contains(where: { patched.symbols[$0].isFunction && status[$0] == .new }) { return nil }
            return Refusal(kind: .exportTable, symbol: entry.symbol, section: entry.section,
                reason: defined.isEmpty ? "adds export \(entry.section) of a symbol this object does not define"
                    : "adds export \(entry.section) to \(entry.symbol), which the running object already has; its running copy cannot be exported by a patch",
                advice: "export a new function instead (a new name calling \(entry.symbol)), or leave the export set as it is")
        }
    }
}

/// One export of an object file: its `___ksymtab[_gpl]+name` section (6.1's EXPORT_SYMBOL).
struct ExportEntry: Hashable {
    let section: String
    let symbol: String

    init?(section: String) {
        guard section.hasPrefix(Self.sectionPrefix), let plus = section.firstIndex(of: "+") else { return nil }
        self.section = section
        symbol = String(section[section.index(after: plus)...])
        guard !symbol.isEmpty else { return nil }
    }

    static let sectionPrefix = "___ksymtab"
}

/// What a section is for, as far as moving a symbol between sections matters.
enum SectionKind: Equatable {
    case text, initText, exitText, data, readOnly, bss, initData, exitData, other(String)

    init(_ name: String) {
        func has(_ p: String) -> Bool { name == p || name.hasPrefix(p + ".") }
        if has(".init.text") { self = .initText }
        else if has(".exit.text") { self = .exitText }
        else if has(".text") || has(".noinstr.text") || has(".entry.text") { self = .text }
        else if has(".init.data") || has(".init.rodata") { self = .initData }
        else if has(".exit.data") { self = .exitData }
        else if has(".data") || has(".ref.data") { self = .data }
        else if has(".rodata") || has(".data.rel.ro") { self = .readOnly }
        else if has(".bss") { self = .bss }
        else { self = .other(SymbolNames.normalized(name)) }
    }
}
