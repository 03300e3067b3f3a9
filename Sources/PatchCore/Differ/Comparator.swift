/// How a defined function or variable of the patched object relates to the original.
enum SymbolChange: Equatable {
    case unchanged
    case changed
    case new
}

/// Stage 3: compare correlated functions and variables by bytes and by
/// references (target identity, type, addend). Targets are identified by their
/// original name, string literals by their content, compiler-private read-only
/// data by its bytes. Tables such as `__mcount_loc` are not compared: they
/// point into functions, they are not part of them.
struct Comparator {
    let original: ObjectModel
    let patched: ObjectModel
    let correlation: Correlation

    /// Status of every defined, named function and variable of the patched object.
    func compare() throws -> [Int: SymbolChange] {
        var status: [Int: SymbolChange] = [:]
        for s in patched.symbols where s.isInSection && (s.isFunction || s.isObject) && !s.name.isEmpty
            && patched.aliases[s.index] == nil {
            guard let o = correlation.patchedToOriginal[s.index] else {
                status[s.index] = .new
                continue
            }
            status[s.index] = try same(original: o, patched: s.index) ? .unchanged : .changed
        }
        // A changed cold part changes its parent: the two are one function.
        for (index, change) in status where change != .unchanged {
            guard let parent = SymbolNames.coldParent(of: patched.symbols[index].name),
                  let p = patched.definedByName[parent]?.first, status[p] == .unchanged else { continue }
            status[p] = .changed
        }
        return status
    }

    func same(original o: Int, patched p: Int) throws -> Bool {
        let os = original.symbols[o], ps = patched.symbols[p]
        guard os.size == ps.size || ps.isFunction else { return false }
        guard try original.bytes(of: o) == patched.bytes(of: p) else { return false }
        let oRefs = original.references(of: o), pRefs = patched.references(of: p)
        guard oRefs.count == pRefs.count else { return false }
        for (a, b) in zip(oRefs, pRefs) {
            guard a.offset == b.offset, a.type == b.type,
                  key(a, in: original, patchedSide: false) == key(b, in: patched, patchedSide: true) else { return false }
        }
        return true
    }

    /// What a reference points at, comparable across the two objects.
    private func key(_ ref: Reference, in model: ObjectModel, patchedSide: Bool) -> String {
        switch ref.target {
        case .symbol(let i):
            let s = model.symbols[i]
            if s.isUndefined || !s.isInSection { return "u:\(s.name)+\(ref.addend)" }
            if model.isPrivate(i) {
                let section = model.sections[Int(s.sectionIndex)]
                if !section.flags.contains(.write), let bytes = try? model.bytes(of: i) {
                    return "c:\(bytes)+\(ref.addend)"
                }
                return "p:\(SymbolNames.normalized(s.name))+\(ref.addend)"
            }
            if patchedSide {
                guard let o = correlation.patchedToOriginal[i] else { return "n:\(s.name)+\(ref.addend)" }
                return "s:\(original.symbols[o].name)+\(ref.addend)"
            }
            return "s:\(s.name)+\(ref.addend)"
        case .section(let i):
            let section = model.sections[i]
            if section.flags.contains(.strings) {
                let (offset, bias) = stringOffset(ref)
                if let text = model.string(in: i, at: offset) { return "str:\(text)\(bias)" }
            }
            return "sec:\(SymbolNames.normalized(section.name))+\(ref.addend)"
        }
    }

    /// Where a reference into a string section points, and the instruction bias of its addend.
    func stringOffset(_ ref: Reference) -> (Int64, Int64) {
        ref.type.isPCRelative ? (ref.addend &+ 4, -4) : (ref.addend, 0)
    }
}
