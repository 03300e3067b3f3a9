import FoundationEssentials

/// Stage 7: write the patch object (ET_REL) in the intermediate form Kbuild
/// links: included functions and data in sections of their own, regenerated
/// special sections, ordinary relocations for everything the patch defines or
/// vmlinux exports, and `.note.kpatch.klp.*` records for livepatch relocations.
struct PatchObjectWriter {
    let patched: ObjectModel
    let inclusion: Inclusion
    let specials: [SpecialSectionOutput]
    let resolver: KlpResolver
    /// New global names of the replacement functions, by patched symbol index.
    let replacementNames: [Int: String]

    struct Written {
        var klpSymbols: Set<KlpSymbol> = []
        var exported: Set<String> = []
        var shared: Set<String> = []
        var image = ELFImage()
    }

    /// One section being built, with its references in its own coordinates.
    private struct Pending {
        var section: ELFImage.Section
        var references: [Reference]
    }

    func build() throws -> Written {
        var written = Written()
        var pending: [Pending] = []
        var symbolPlace: [Int: (pending: Int, offset: UInt64)] = [:]
        var sectionPlace: [Int: Int] = [:]

        // Functions keep the padding the compiler gave them; on an IBT object a replacement
        // without `endbr64` gets one (FunctionEntry).
        let ibt = try FunctionEntry.isIBT(patched)
        var endbrInserted: Set<Int> = []
        for index in inclusion.symbols.sorted() {
            let s = patched.symbols[index]
            let source = patched.sections[Int(s.sectionIndex)]
            var bytes = source.type == .nobits ? [] : try patched.bytes(of: index)
            var references = patched.references(of: index)
            var start: UInt64 = 0
            if s.isFunction, source.isExecutable {
                let padding = try FunctionEntry.padding(before: index, in: patched)
                let endbr = ibt && replacementNames[index] != nil && !bytes.starts(with: FunctionEntry.endbr64)
                if endbr { endbrInserted.insert(index) }
                let shift = UInt64(padding.count) + (endbr ? UInt64(FunctionEntry.endbr64.count) : 0)
                bytes = padding + (endbr ? FunctionEntry.endbr64 : []) + bytes
                references = references.map { Reference(offset: $0.offset + shift, type: $0.type, addend: $0.addend, target: $0.target) }
                start = UInt64(padding.count)
            }
            let whole = s.value == start && s.size == source.size - start
            var alignment = max(source.alignment, 1)
            while !whole && (s.value - start) % alignment != 0 { alignment /= 2 }
            let content: ELFImage.Content = source.type == .nobits ? .noBits(size: s.size) : .bytes(bytes)
            symbolPlace[index] = (pending.count, start)
            pending.append(Pending(section: .init(name: source.name, type: source.type, flags: source.flags.subtracting(.group),
                                                  alignment: alignment, entrySize: source.entrySize, content: content),
                                   references: references))
        }
        for index in inclusion.sections.sorted() {
            let source = patched.sections[index]
            sectionPlace[index] = pending.count
            let content: ELFImage.Content = source.type == .nobits ? .noBits(size: source.size) : .bytes(try patched.elf.data(of: source))
            pending.append(Pending(section: .init(name: source.name, type: source.type, flags: source.flags.subtracting(.group),
                                                  alignment: source.alignment, entrySize: source.entrySize, content: content),
                                   references: patched.references[index] ?? []))
        }
        // Sections of code fragments: whole, at the same offsets, but only the reached fragments
        // live (`Includer.copiedByFragment`); the rest int3 without references.
        for (index, spans) in inclusion.fragments.sorted(by: { $0.key < $1.key }) {
            let source = patched.sections[index]
            let data = Array(try patched.elf.data(of: source))
            var bytes = [UInt8](repeating: 0xcc, count: data.count)
            for span in spans.map({ Int($0.lowerBound)..<Int($0.upperBound) }) { bytes[span] = data[span] }
            sectionPlace[index] = pending.count
            pending.append(Pending(section: .init(name: source.name, type: source.type, flags: source.flags.subtracting(.group),
                                                  alignment: source.alignment, entrySize: source.entrySize, content: .bytes(bytes)),
                                   references: inclusion.fragmentReferences(index, in: patched)))
        }
        for special in specials {
            let s = special.source
            pending.append(Pending(section: .init(name: s.name, type: s.type, flags: s.flags.subtracting(.group),
                                                  alignment: s.alignment, entrySize: s.entrySize, content: .bytes(special.bytes)),
                                   references: special.references))
        }

        // Section indices: [0] null, [1] .shstrtab, [2] .strtab, then the pending sections.
        guard 2 * pending.count + 8 < Int(SpecialSection.loReserve) else {
            throw ELFError.cannotWrite(file: patched.path, what: "the patch needs \(pending.count) sections; split the change")
        }
        var image = ELFImage()
        let strtab = image.append(.init(name: ".strtab", type: .strtab, content: .strings))
        let firstPending = image.sections.count
        for p in pending { image.append(p.section) }
        let recordsIndex = image.append(.init(name: KlpRecords.recordsSection, type: .progbits, alignment: 8, content: .bytes([])))
        let stringsIndex = image.append(.init(name: KlpRecords.stringsSection, type: .progbits, alignment: 1, content: .bytes([0])))
        image.append(.init(name: ".note.GNU-stack", type: .progbits, content: .bytes([])))

        // Local symbols: one section symbol per section, then the included functions and data.
        var locals: [ELFSymbol] = [ELFSymbol(index: 0, name: "", value: 0, size: 0, type: .notype, binding: .local, sectionIndex: 0)]
        var sectionSymbol: [Int: Int] = [:]
        for i in firstPending..<image.sections.count {
            sectionSymbol[i] = locals.count
            locals.append(ELFSymbol(index: locals.count, name: "", value: 0, size: 0, type: .section, binding: .local, sectionIndex: UInt16(i)))
        }
        var globals: [ELFSymbol] = []
        var outputSymbol: [Int: (local: Bool, index: Int)] = [:]
        // objtool finds a `.cold` part's function by its name (`foo.cold` -> `foo`; otherwise
        // "can't find parent function" and the IBT link fails): a replaced function's part is
        // named after its replacement (`klp_new_foo.cold`).
        let replacementByName = Dictionary(replacementNames.map { (patched.symbols[$0.key].name, $0.value) }, uniquingKeysWith: { a, _ in a })
        func localName(_ s: ELFSymbol) -> String {
            guard let parent = SymbolNames.coldParent(of: s.name), let name = replacementByName[parent] else { return s.name }
            return name + s.name.dropFirst(parent.count)
        }
        for index in inclusion.symbols.sorted() {
            let s = patched.symbols[index]
            let (place, value) = symbolPlace[index]!
            let section = UInt16(firstPending + place)
            let size = s.size + (endbrInserted.contains(index) ? UInt64(FunctionEntry.endbr64.count) : 0)
            if let name = replacementNames[index] {
                outputSymbol[index] = (false, globals.count)
                globals.append(ELFSymbol(index: 0, name: name, value: value, size: size, type: s.type, binding: .global, sectionIndex: section))
            } else if s.isLocal {
                outputSymbol[index] = (true, locals.count)
                locals.append(ELFSymbol(index: 0, name: localName(s), value: value, size: size, type: s.type, binding: .local, sectionIndex: section))
            } else {
                outputSymbol[index] = (false, globals.count)
                globals.append(ELFSymbol(index: 0, name: s.name, value: value, size: size, type: s.type, binding: s.binding,
                                         other: s.other, sectionIndex: section))
            }
        }
        // An export entry keeps its `__ksymtab_<name>` label: modpost finds exports by it.
        for index in inclusion.sections.sorted() where ExportEntry(section: patched.sections[index].name) != nil {
            for s in patched.symbols where s.isInSection && Int(s.sectionIndex) == index && s.type == .notype && !s.name.isEmpty {
                locals.append(ELFSymbol(index: 0, name: s.name, value: s.value, size: 0, type: .notype, binding: .local,
                                        sectionIndex: UInt16(firstPending + sectionPlace[index]!)))
            }
        }
        /// A reference into a function that got an `endbr64` moves with its code; a call or
        /// jump to its entry (from code, to offset 0) lands on the `endbr64`.
        func addend(_ ref: Reference, to j: Int, from section: ELFImage.Section) -> Int64 {
            guard endbrInserted.contains(j) else { return ref.addend }
            let place = ref.type.isPCRelative ? ref.addend &+ 4 : ref.addend
            let entry = section.flags.contains(.execInstr) && place == 0
            return place < 0 || entry ? ref.addend : ref.addend &+ Int64(FunctionEntry.endbr64.count)
        }
        var undefinedIndex: [String: Int] = [:]
        func undefined(_ name: String, binding: SymbolBinding = .global) -> Int {
            if let i = undefinedIndex[name] { return i }
            undefinedIndex[name] = globals.count
            globals.append(ELFSymbol(index: 0, name: name, value: 0, size: 0, type: .notype, binding: binding, sectionIndex: 0))
            return globals.count - 1
        }

        // Relocations: ordinary ones per section, livepatch ones as records.
        var relocations: [Int: [(ELFRelocation, globalIndex: Int?)]] = [:]
        var records: [UInt8] = []
        var recordRelocations: [(ELFRelocation, globalIndex: Int?)] = []
        var strings: [UInt8] = [0]
        var stringOffset: [String: Int] = [:]
        for (p, item) in pending.enumerated() {
            let outIndex = firstPending + p
            for ref in item.references {
                let resolution = try resolver.resolve(ref.target)
                switch resolution {
                case .included(let j) where patched.symbols[j].isFunction && SymbolNames.coldParent(of: patched.symbols[j].name) != nil:
                    // A jump into a `.cold` part goes through its section symbol, as in GCC's own objects:
                    // objtool reads a jump whose relocation names a function symbol as a sibling call
                    // out of its function ("sibling call from callable instruction with modified stack frame").
                    let (place, value) = symbolPlace[j]!
                    relocations[outIndex, default: []].append((ELFRelocation(offset: ref.offset, type: ref.type,
                                                                             symbolIndex: sectionSymbol[firstPending + place]!,
                                                                             addend: ref.addend &+ Int64(value)), nil))
                case .included(let j):
                    let o = outputSymbol[j]!
                    relocations[outIndex, default: []].append((ELFRelocation(offset: ref.offset, type: ref.type, symbolIndex: o.index,
                                                                             addend: addend(ref, to: j, from: item.section)), o.local ? nil : o.index))
                case .section(let k):
                    let sym = sectionSymbol[firstPending + sectionPlace[k]!]!
                    relocations[outIndex, default: []].append((ELFRelocation(offset: ref.offset, type: ref.type, symbolIndex: sym, addend: ref.addend), nil))
                case .exported(let name), .shared(let name):
                    if case .shared = resolution { written.shared.insert(name) } else { written.exported.insert(name) }
                    let g = undefined(name)
                    relocations[outIndex, default: []].append((ELFRelocation(offset: ref.offset, type: ref.type, symbolIndex: g, addend: ref.addend), g))
                case .klp(let klp):
                    written.klpSymbols.insert(klp)
                    let name = klp.elfName
                    if stringOffset[name] == nil {
                        stringOffset[name] = strings.count
                        strings += Array(name.utf8) + [0]
                    }
                    let base = UInt64(records.count)
                    records += KlpRecords.record(type: ref.type, addend: ref.addend)
                    recordRelocations.append((ELFRelocation(offset: base + UInt64(KlpRecords.placeField), type: .abs64,
                                                            symbolIndex: sectionSymbol[outIndex]!, addend: Int64(ref.offset)), nil))
                    recordRelocations.append((ELFRelocation(offset: base + UInt64(KlpRecords.nameField), type: .abs64,
                                                            symbolIndex: sectionSymbol[stringsIndex]!, addend: Int64(stringOffset[name]!)), nil))
                    // On an IBT object objtool runs on the linked module (ObjtoolDeferral), where a branch
                    // without a relocation reads as `call .+5`: an intra-function call it cannot follow.
                    // The branch gets an anchor relocation against a weak undefined symbol (KlpAnchor:
                    // modpost accepts an unresolved weak symbol; objtool follows it as a call to another
                    // object); KlpPostLink moves it into `.klp.rela.*`.
                    if ibt, item.section.flags.contains(.execInstr), ref.type == .pc32 || ref.type == .plt32,
                       case .bytes(let code) = item.section.content, DirectBranch.isDisplacement(at: ref.offset, in: code) {
                        let g = undefined(KlpAnchor.symbolName(for: klp), binding: .weak)
                        relocations[outIndex, default: []].append((ELFRelocation(offset: ref.offset, type: ref.type, symbolIndex: g, addend: ref.addend), g))
                    }
                }
            }
        }
        image.sections[recordsIndex].content = .bytes(records)
        image.sections[stringsIndex].content = .bytes(strings)
        if !records.isEmpty { relocations[recordsIndex] = recordRelocations }

        // Symbol table: locals first, globals after; global indices shift by the local count.
        let symtabIndex = image.sections.count + relocations.count
        let allSymbols = locals + globals
        for (target, list) in relocations.sorted(by: { $0.key < $1.key }) {
            let entries = list.map { r, g in
                ELFRelocation(offset: r.offset, type: r.type, symbolIndex: g.map { $0 + locals.count } ?? r.symbolIndex, addend: r.addend)
            }
            image.append(.init(name: ".rela" + image.sections[target].name, type: .rela, flags: .infoLink,
                               link: UInt32(symtabIndex), info: UInt32(target), alignment: 8, content: .relocations(entries)))
        }
        image.append(.init(name: ".symtab", type: .symtab, link: UInt32(strtab), alignment: 8, content: .symbols(allSymbols)))
        written.image = image
        return written
    }
}
