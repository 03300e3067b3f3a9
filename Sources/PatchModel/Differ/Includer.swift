/// What goes into the patch object.
struct Inclusion {
    /// Patched functions that replace a function of the running object.
    var replaced: [Int] = []
    /// Patched functions and variables the patch adds.
    var new: [Int] = []
    /// Every function and variable copied into the patch (replaced, new, cold parts, private data).
    var symbols: Set<Int> = []
    /// Sections copied whole: string literals and other data without symbols.
    var sections: Set<Int> = []
    /// Sections of code fragments (`Includer.copiedByFragment`) and the fragments the patch
    /// reaches (spans in the patched object): the rest of such a section is dead in the patch.
    var fragments: [Int: Set<Range<Int64>>] = [:]

    /// Whether `place` in `section` is copied: in a section copied whole, or in a copied fragment.
    func copies(_ place: Int64, in section: Int) -> Bool {
        sections.contains(section) || (fragments[section]?.contains { $0.contains(place) } ?? false)
    }

    /// The references of `section`'s copied fragments (at their offsets in the section).
    func fragmentReferences(_ section: Int, in model: ObjectModel) -> [Reference] {
        let spans = fragments[section] ?? []
        return (model.references[section] ?? []).filter { ref in spans.contains { $0.contains(Int64(ref.offset)) } }
    }

    var count: Int { symbols.count + sections.count + fragments.values.map(\.count).reduce(0, +) }
}

/// Stage 4: include changed and new functions with their cold parts and
/// export entries, new data, and the literals and private data they reference. Unchanged functions
/// and existing variables stay outside, reached by reference, and so does data
/// resolved at link time (`.BTF_ids`), even when new.
struct Includer {
    let patched: ObjectModel
    let status: [Int: SymbolChange]
    /// Changed notrace functions (and their notrace callers) carried as new
    /// functions: included when their replaced callers reach them, never replaced.
    let carried: Set<Int>
    private let coldChildren: [String: [Int]]
    private let fragments: CodeFragments

    init(patched: ObjectModel, status: [Int: SymbolChange], carried: Set<Int> = []) {
        self.patched = patched
        fragments = CodeFragments(model: patched)
        self.status = status
        self.carried = carried
        var map: [String: [Int]] = [:]
        for s in patched.symbols where s.isFunction && s.isInSection {
            if let parent = SymbolNames.coldParent(of: s.name) { map[parent, default: []].append(s.index) }
        }
        coldChildren = map
    }

    func include() -> Inclusion {
        var inclusion = Inclusion()
        var roots: [Int] = []
        for (index, change) in status.sorted(by: { $0.key < $1.key }) where change != .unchanged {
            let s = patched.symbols[index]
            let kind = SectionKind(patched.sectionName(of: index))
            guard kind != .initText, kind != .exitText, kind != .initData, kind != .exitData,
                  SymbolNames.coldParent(of: s.name) == nil, !patched.isPrivate(index), !carried.contains(index),
                  !patched.isLinkTimeData(index), !patched.isDiscarded(index) else { continue }
            if change == .changed {
                // Changed data is refused; only functions are replaced.
                if s.isFunction { inclusion.replaced.append(index); roots.append(index) }
            } else {
                inclusion.new.append(index)
                roots.append(index)
            }
        }
        // A new function's export entry travels with it: the patch module exports it.
        let newFunctions = Set(inclusion.new.filter { patched.symbols[$0].isFunction }.map { patched.symbols[$0].name })
        let exports = patched.sections.filter { ExportEntry(section: $0.name).map { newFunctions.contains($0.symbol) } ?? false }
        close(&inclusion, from: roots.map { .symbol($0) } + exports.map { .section($0.index) })
        return inclusion
    }

    /// Executable sections without symbols that code jumps into (`.altinstr_aux`: the
    /// run-time tests of static_cpu_has(); `.altinstr_replacement`: alternatives' code) hold
    /// one fragment per use. Only the fragments the patch reaches are live in it: the others
    /// belong to other functions, and jump back into them (into an `__init` one, which the
    /// patch cannot reach). They keep their offsets, their bytes become int3 and their
    /// references are dropped (`PatchObjectWriter`).
    func copiedByFragment(_ section: Int) -> Bool { fragments.holdsFragments(section) }

    /// Adds everything reachable from `start` that must travel with the patch.
    func close(_ inclusion: inout Inclusion, from start: [Reference.Target]) {
        close(&inclusion, start.map { .target($0) })
    }

    /// Adds what `references` (of data, such as special-section entries) reach.
    func close(_ inclusion: inout Inclusion, reaching references: [Reference]) {
        var work: [Item] = []
        reach(references, fromCode: false, into: &work)
        close(&inclusion, work)
    }

    /// Adds fragments whose extent is known (an alternative's replacement: offset and length).
    func close(_ inclusion: inout Inclusion, fragments spans: [(section: Int, span: Range<Int64>)]) {
        close(&inclusion, spans.filter { !$0.span.isEmpty }.map { .fragment($0.section, $0.span) })
    }

    private enum Item { case target(Reference.Target), fragment(Int, Range<Int64>) }

    private func reach(_ refs: [Reference], fromCode: Bool, into work: inout [Item]) {
        for ref in refs {
            if case .section(let k) = ref.target, copiedByFragment(k) {
                // Outside the section: the resolver refuses the reference by name.
                if let span = fragments.span(in: k, containing: ref.place(fromCode: fromCode)) { work.append(.fragment(k, span)) }
            } else if let t = mustInclude(ref.target) {
                work.append(.target(t))
            }
        }
    }

    private func close(_ inclusion: inout Inclusion, _ start: [Item]) {
        var work = start
        while let next = work.popLast() {
            switch next {
            case .target(.symbol(let i)):
                guard inclusion.symbols.insert(i).inserted else { continue }
                let s = patched.symbols[i]
                if s.isFunction, let children = coldChildren[s.name] { work += children.map { .target(.symbol($0)) } }
                reach(patched.references(of: i), fromCode: patched.sections[Int(s.sectionIndex)].isExecutable, into: &work)
            case .target(.section(let i)):
                guard inclusion.sections.insert(i).inserted else { continue }
                reach(patched.references[i] ?? [], fromCode: patched.sections[i].isExecutable, into: &work)
            case .fragment(let i, let span):
                guard inclusion.fragments[i, default: []].insert(span).inserted else { continue }
                reach(fragments.references(in: i, span: span), fromCode: true, into: &work)
            }
        }
    }

    /// The target if it has to be copied: new symbols, compiler-private data,
    /// changed functions (reached directly), and sections without symbols.
    private func mustInclude(_ target: Reference.Target) -> Reference.Target? {
        switch target {
        case .symbol(let i):
            let s = patched.symbols[i]
            guard s.isInSection, s.isFunction || s.isObject, !patched.isLinkTimeData(i), !patched.isDiscarded(i) else { return nil }
            if patched.isPrivate(i) || SymbolNames.coldParent(of: s.name) != nil { return target }
            switch status[i] {
            case .new?: return target
            case .changed? where s.isFunction: return target
            default: return nil
            }
        case .section(let i):
            let kind = SectionKind(patched.sections[i].name)
            return kind == .initText || kind == .exitText || patched.isLinkTimeSection(i) ? nil : target
        }
    }
}
