/// How a defined function or variable of the patched object relates to the original.
enum SymbolChange: Equatable {
    case unchanged
    case changed
    case new
}

/// What comparing the two objects gives.
struct Comparison {
    /// Status of every defined, named function and variable of the patched object.
    var status: [Int: SymbolChange] = [:]
    /// Why each changed patched symbol changed.
    var reasons: [Int: ChangeReason] = [:]
    /// Patched functions equal to their original only modulo noise: line numbers in
    /// WARN/BUG and dynamic-debug data, counter-numbered names. Not replaced.
    var ignored: [Int] = []
}

/// Stage 3: compare correlated functions and variables by bytes and by
/// references (target identity, type, addend). Targets are identified by their
/// original name, string literals by their content, compiler-private read-only
/// data by its bytes, counter-numbered names (`__UNIQUE_ID_ddebug12`, `x.3`)
/// without their counters, strings without the `__LINE__` they embed after their
/// file's name (`SourceLineTags`). Tables such as `__mcount_loc` are not compared: they
/// point into functions, they are not part of them (a `__LINE__` in a
/// `__bug_table` entry is not a change of the function).
struct Comparator {
    let original: ObjectModel
    let patched: ObjectModel
    let correlation: Correlation
    /// Tables whose entries carry source line numbers for the function they point into.
    static let lineTables = ["__bug_table"]
    let layout: SpecialSectionLayout
    private let fragments: (original: CodeFragments, patched: CodeFragments)

    init(original: ObjectModel, patched: ObjectModel, correlation: Correlation, layout: SpecialSectionLayout) {
        self.original = original
        self.patched = patched
        self.correlation = correlation
        self.layout = layout
        fragments = (CodeFragments(model: original), CodeFragments(model: patched))
    }

    func compare() throws -> Comparison {
        var result = Comparison()
        for s in patched.symbols where s.isInSection && (s.isFunction || s.isObject) && !s.name.isEmpty
            && patched.aliases[s.index] == nil && !patched.padding.contains(s.index) {
            guard let o = correlation.patchedToOriginal[s.index] else {
                result.status[s.index] = .new
                continue
            }
            if let reason = try difference(original: o, patched: s.index, strict: false) {
                result.status[s.index] = .changed
                result.reasons[s.index] = reason
            } else {
                result.status[s.index] = .unchanged
                if s.isFunction, try difference(original: o, patched: s.index, strict: true) != nil {
                    result.ignored.append(s.index)
                }
            }
        }
        // A changed cold part changes its parent: the two are one function.
        for (index, change) in result.status where change != .unchanged {
            guard let parent = SymbolNames.coldParent(of: patched.symbols[index].name),
                  let p = patched.definedByName[parent]?.first, result.status[p] == .unchanged else { continue }
            result.status[p] = .changed
            result.reasons[p] = result.reasons[index] ?? ChangeReason(.code)
            result.ignored.removeAll { $0 == p }
        }
        result.ignored.sort()
        try attributeToInlinedCallees(&result)
        return result
    }

    /// A function whose own code is unchanged and whose change lies in code
    /// inlined from another function is that function's change: `inlined-callee`
    /// (from both objects' DWARF).
    private func attributeToInlinedCallees(_ result: inout Comparison) throws {
        let codeChanged = result.reasons.filter { $0.value.kind == .code && patched.symbols[$0.key].isFunction }.map(\.key)
        guard !codeChanged.isEmpty, let oCode = try InlinedCode.load(original), let pCode = try InlinedCode.load(patched) else { return }
        for p in codeChanged {
            guard let o = correlation.patchedToOriginal[p],
                  let callee = try InlinedCode.changedCallee(original: original, o, oCode, patched: patched, p, pCode) else { continue }
            result.reasons[p] = ChangeReason(.inlinedCallee, callee)
        }
    }

    /// Why patched symbol `p` differs from original symbol `o`; nil when it does not.
    /// `strict` also counts noise: exact names (counters included), the bytes of the
    /// writable private data referenced (dynamic-debug descriptors hold line
    /// numbers), and the line-number tables pointing into the function.
    func difference(original o: Int, patched p: Int, strict: Bool) throws -> ChangeReason? {
        let os = original.symbols[o], ps = patched.symbols[p]
        guard os.size == ps.size || ps.isFunction else { return ChangeReason(.data, ps.name) }
        let oRefs = original.references(of: o), pRefs = patched.references(of: p)
        let (oBytes, pBytes) = (try original.bytes(of: o), try patched.bytes(of: p))
        if oBytes != pBytes {
            // Only `__LINE__` arguments of might_sleep() and the like differ: noise.
            guard !strict, ps.isFunction,
                  LineNumberArguments(model: patched).onlyLinesDiffer(oBytes, pBytes, references: pRefs) else { return ChangeReason(.code) }
        }
        for (a, b) in zip(oRefs, pRefs) {
            guard a.offset == b.offset, a.type == b.type else { return ChangeReason(.code) }
            let oKey = try key(a, in: original, patchedSide: false, strict: strict)
            let pKey = try key(b, in: patched, patchedSide: true, strict: strict)
            guard oKey == pKey else { return reason(for: b, keys: (oKey, pKey)) }
        }
        guard oRefs.count == pRefs.count else {
            return pRefs.count > oRefs.count ? reason(for: pRefs[oRefs.count], keys: ("", "")) : ChangeReason(.code)
        }
        if strict, ps.isFunction {
            for table in Self.lineTables {
                guard try lineEntries(table, of: o, in: original) == lineEntries(table, of: p, in: patched) else {
                    return ChangeReason(.data, table)
                }
            }
        }
        return nil
    }

    /// The reason a differing reference gives: other data (by content) or another target.
    private func reason(for ref: Reference, keys: (String, String)) -> ChangeReason {
        let contentKeys = ["c:", "str:"]
        let isContent = contentKeys.contains { keys.0.hasPrefix($0) && keys.1.hasPrefix($0) }
        return ChangeReason(isContent ? .data : .relocation, name(of: ref.target, in: patched))
    }

    /// A reference target for messages: the symbol, the string, or the section.
    private func name(of target: Reference.Target, in model: ObjectModel) -> String {
        switch target {
        case .symbol(let i): return model.symbols[i].name
        case .section(let i): return model.sections[i].name
        }
    }

    /// What a reference points at, comparable across the two objects.
    private func key(_ ref: Reference, in model: ObjectModel, patchedSide: Bool, strict: Bool) throws -> String {
        let name = { (n: String) in strict ? n : SymbolNames.normalized(n) }
        switch ref.target {
        case .symbol(let i):
            let s = model.symbols[i]
            if s.isUndefined || !s.isInSection { return "u:\(s.name)+\(ref.addend)" }
            if model.isPrivate(i) {
                let section = model.sections[Int(s.sectionIndex)]
                if !section.flags.contains(.write) { return "c:\(hexString(try model.bytes(of: i)))+\(ref.addend)" }
                return "p:\(name(s.name))+\(ref.addend)" + (strict ? "=\(hexString(try model.bytes(of: i)))" : "")
            }
            if patchedSide {
                guard let o = correlation.patchedToOriginal[i] else { return "n:\(s.name)+\(ref.addend)" }
                return "s:\(strict ? s.name : original.symbols[o].name)+\(ref.addend)"
            }
            return "s:\(s.name)+\(ref.addend)"
        case .section(let i):
            let section = model.sections[i]
            if section.flags.contains(.strings) {
                let (offset, bias) = stringOffset(ref)
                if let text = model.string(in: i, at: offset) {
                    return "str:\(hexString(strict ? text : SourceLineTags(sourceFile: model.sourceFile).masked(text)))\(bias)"
                }
            }
            let index = patchedSide ? fragments.patched : fragments.original
            if index.holdsFragments(i) {
                let (offset, bias) = stringOffset(ref)
                if let fragment = try index.fragment(in: i, at: offset) {
                    let inner = try fragment.references.map { r -> String in
                        if case .section(let t) = r.target, t == i { return "self+\(r.offset)+\(r.addend)" }
                        return "\(r.offset):" + (try key(r, in: model, patchedSide: patchedSide, strict: strict))
                    }
                    return "frag:\(name(section.name)):\(hexString(fragment.bytes)):\(inner.map { "\($0.utf8.count):\($0)" }.joined())\(bias)"
                }
            }
            return "sec:\(name(section.name))+\(ref.addend)"
        }
    }

    /// Where a reference into a string section points, and the instruction bias of its addend.
    func stringOffset(_ ref: Reference) -> (Int64, Int64) {
        ref.type.isPCRelative ? (ref.addend &+ 4, -4) : (ref.addend, 0)
    }

    /// The bytes of the `table` entries that point into function `symbol` (their
    /// relocated fields are zero in an object file; what remains is line and flags).
    private func lineEntries(_ table: String, of symbol: Int, in model: ObjectModel) throws -> [[UInt8]] {
        guard let section = model.elf.section(named: table), let size = try layout.entrySize(of: section, file: model.path), size > 0 else { return [] }
        let bytes = try model.elf.data(of: section)
        var entries: [[UInt8]] = []
        for ref in model.references[section.index] ?? [] where Int(ref.offset) % size == 0 {
            guard case .symbol(let t) = ref.target, t == symbol else { continue }
            let start = Int(ref.offset)
            guard start + size <= bytes.count else { continue }
            entries.append(Array(bytes[start..<start + size]))
        }
        return entries
    }
}
