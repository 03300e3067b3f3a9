/// Which symbol of the original object each symbol of the patched object is.
struct Correlation {
    var patchedToOriginal: [Int: Int] = [:]
    var originalToPatched: [Int: Int] = [:]

    mutating func pair(original: Int, patched: Int) {
        patchedToOriginal[patched] = original
        originalToPatched[original] = patched
    }
}

/// Stage 2: correlate defined functions and variables by name. Tolerates
/// GCC's renumbered suffixes (`.isra.N`, `.constprop.N`, `.part.N`, `.cold`),
/// matches numbered static locals (`x.N`) by the functions that reference
/// them, and never correlates compiler-private statics (`__key`, `__warned`,
/// `__func__`, ...): each compilation owns those.
struct Correlator {
    func correlate(original: ObjectModel, patched: ObjectModel) -> Correlation {
        var result = Correlation()
        let origCandidates = candidates(original)
        let patchedCandidates = candidates(patched)

        // Exact, unique names first; numbered static locals wait for their referrers.
        for (name, p) in patchedCandidates.byName where p.count == 1 {
            guard let o = origCandidates.byName[name], o.count == 1,
                  !isNumberedLocal(patched.symbols[p[0]]),
                  original.symbols[o[0]].type == patched.symbols[p[0]].type else { continue }
            result.pair(original: o[0], patched: p[0])
        }
        // Then normalized names, keyed by the functions that reference them.
        let origReferrers = referrers(original), patchedReferrers = referrers(patched)
        func keys(_ model: ObjectModel, _ list: [Int], _ referrers: [Int: Set<String>], matched: [Int: Int]) -> [String: [Int]] {
            var map: [String: [Int]] = [:]
            for i in list where matched[i] == nil {
                let s = model.symbols[i]
                let users = (referrers[i] ?? []).sorted().joined(separator: ",")
                map["\(s.type.rawValue)|\(SymbolNames.normalized(s.name))|\(isNumberedLocal(s) ? users : "")", default: []].append(i)
            }
            return map
        }
        let origKeys = keys(original, origCandidates.all, origReferrers, matched: result.originalToPatched)
        let patchedKeys = keys(patched, patchedCandidates.all, patchedReferrers, matched: result.patchedToOriginal)
        for (key, p) in patchedKeys where p.count == 1 {
            guard let o = origKeys[key], o.count == 1 else { continue }
            result.pair(original: o[0], patched: p[0])
        }
        return result
    }

    private struct Candidates {
        var all: [Int] = []
        var byName: [String: [Int]] = [:]
    }

    private func candidates(_ model: ObjectModel) -> Candidates {
        var c = Candidates()
        for s in model.symbols where s.isInSection && (s.isFunction || s.isObject || s.type == .notype)
            && !s.name.isEmpty && !model.isPrivate(s.index) && !model.padding.contains(s.index) {
            c.all.append(s.index)
            c.byName[s.name, default: []].append(s.index)
        }
        return c
    }

    /// `counter.3`: a function-scope static, numbered by GCC per translation unit.
    private func isNumberedLocal(_ s: ELFSymbol) -> Bool {
        s.isLocal && s.isObject && SymbolNames.normalized(s.name) != s.name
    }

    /// For each referenced symbol, the normalized names of the functions referencing it.
    private func referrers(_ model: ObjectModel) -> [Int: Set<String>] {
        var map: [Int: Set<String>] = [:]
        for (section, refs) in model.references {
            guard let owners = model.symbolsInSection[section] else { continue }
            for ref in refs {
                guard case .symbol(let target) = ref.target, model.symbols[target].isObject else { continue }
                let owner = owners.last { model.symbols[$0].value <= ref.offset }
                if let owner, model.symbols[owner].isFunction {
                    map[target, default: []].insert(SymbolNames.normalized(model.symbols[owner].name))
                }
            }
        }
        return map
    }
}
