/// What the notrace stage decides.
struct NotraceRedirection {
    /// Notrace functions copied into the patch as new functions (changed, or
    /// unchanged but on the way from a changed one to a traced caller).
    var carried: Set<Int> = []
    /// Traced callers replaced instead, with the changed notrace function they reach.
    var callers: [Int: ChangeReason] = [:]
    var refusals: [Refusal] = []
}

/// Stage 3b: ftrace redirects only functions that call `__fentry__`. A changed
/// notrace function (a `static inline` syscall body `__do_sys_NAME` that gcc
/// emitted out of line, a `notrace` helper) is carried as a new function, and
/// its nearest traced callers in this object are replaced so that they call the
/// new body. Callers that are notrace too are carried as well, up to traced
/// ones. Refused when that cannot reach every use: the function is global
/// (callers in other objects are not seen), its address is taken (calls
/// through pointers still reach the old body), or no traced caller exists.
struct NotraceRedirector {
    let original: ObjectModel
    let patched: ObjectModel
    let correlation: Correlation
    let layout: SpecialSectionLayout

    func redirect(_ comparison: Comparison) throws -> NotraceRedirection {
        var result = NotraceRedirection()
        let uses = try self.uses()
        for (p, change) in comparison.status.sorted(by: { $0.key < $1.key }) where change == .changed {
            let s = patched.symbols[p]
            guard s.isFunction, SymbolNames.coldParent(of: s.name) == nil, isResidentText(p),
                  let o = correlation.patchedToOriginal[p], !original.hasFentryCall(o) || !patched.hasFentryCall(p) else { continue }
            redirect(changed: p, uses: uses, into: &result)
        }
        return result
    }

    /// Walks callers up from the changed notrace function `root` to traced ones.
    private func redirect(changed root: Int, uses: [Int: [Use]], into result: inout NotraceRedirection) {
        let rootName = patched.symbols[root].name
        var work = [root], seen: Set<Int> = [root]
        var carried: [Int] = [], traced: [Int] = [], blockers: [String] = []
        while let f = work.popLast() {
            carried.append(f)
            let name = patched.symbols[f].name
            if !patched.symbols[f].isLocal { blockers.append("\(name) is global: callers in other objects would keep the old body") }
            for use in uses[f] ?? [] where use.user != f {
                guard use.isCall, let caller = use.user else {
                    blockers.append("\(name) is referenced by address from \(use.place): calls through that pointer would keep the old body")
                    continue
                }
                guard isResidentText(caller), correlation.patchedToOriginal[caller] != nil else { continue }
                if isTraced(caller) {
                    traced.append(caller)
                } else if seen.insert(caller).inserted {
                    work.append(caller)
                }
            }
        }
        if traced.isEmpty && blockers.isEmpty {
            blockers.append("no traced function of this object calls it")
        }
        guard blockers.isEmpty else {
            result.refusals.append(Refusal(kind: .notrace, symbol: rootName, section: patched.sectionName(of: root),
                reason: "has no __fentry__ call (notrace), so ftrace cannot redirect it, and replacing its callers does not cover every use: " + blockers.joined(separator: "; "),
                advice: "move the fix into a traced function (one without notrace/inline) or remove notrace from \(rootName)"))
            return
        }
        result.carried.formUnion(carried)
        for c in traced where result.callers[c] == nil { result.callers[c] = ChangeReason(.notraceCallee, rootName) }
    }

    /// ftrace can redirect it: it calls `__fentry__` in both builds.
    private func isTraced(_ p: Int) -> Bool {
        guard let o = correlation.patchedToOriginal[p] else { return false }
        return original.hasFentryCall(o) && patched.hasFentryCall(p)
    }

    /// Code that runs after boot (not `__init`/`__exit`).
    private func isResidentText(_ p: Int) -> Bool {
        let kind = SectionKind(patched.sectionName(of: p))
        return kind != .initText && kind != .exitText
    }

    /// One reference to a function: by whom (nil for data), and whether it is a direct call or jump.
    private struct Use {
        let user: Int?
        let place: String
        let isCall: Bool
    }

    /// Every reference to each function of the patched object, from code and from
    /// data. Tables of entries pointing into functions (special sections,
    /// `__mcount_loc`) and non-allocated sections are not uses.
    private func uses() throws -> [Int: [Use]] {
        var map: [Int: [Use]] = [:]
        for (sectionIndex, refs) in patched.references {
            let section = patched.sections[sectionIndex]
            guard try layout.entrySize(of: section, file: patched.path) == nil, !section.name.hasPrefix(".discard") else { continue }
            let owners = patched.symbolsInSection[sectionIndex] ?? []
            for ref in refs {
                guard case .symbol(let t) = ref.target, patched.symbols[t].isFunction, patched.symbols[t].isInSection else { continue }
                let owner = owners.last { patched.symbols[$0].value <= ref.offset && ref.offset < patched.symbols[$0].value &+ patched.symbols[$0].size }
                let user = owner.flatMap { patched.symbols[$0].isFunction ? $0 : nil }
                let isCall = try section.isExecutable && isDirectBranch(at: ref.offset, in: section)
                let place = owner.map { patched.symbols[$0].name } ?? section.name
                map[t, default: []].append(Use(user: user, place: place, isCall: isCall))
            }
        }
        return map
    }

    /// The relocated rel32 at `offset` is the operand of `call`, `jmp` or `jcc rel32`.
    private func isDirectBranch(at offset: UInt64, in section: ELFSection) throws -> Bool {
        try patched.elf.withData(of: section) { DirectBranch.isDisplacement(at: offset, in: $0) }
    }
}
