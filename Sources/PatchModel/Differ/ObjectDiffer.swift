import FoundationEssentials

/// Diffs the original and patched object of one translation unit and writes
/// the patch object. The pipeline: load -> correlate -> compare -> refuse ->
/// include -> special sections -> livepatch relocations -> write.
public struct ObjectDiffer {
    /// The running object the translation unit is part of: "vmlinux" or a module name.
    public let objectName: String
    /// The running object's symbol table (the module's .ko, or the debug vmlinux).
    public let target: TargetSymbols
    /// The debug vmlinux, for module code that reaches non-exported kernel symbols.
    public let vmlinux: TargetSymbols?
    /// Symbols exported by vmlinux (its Module.symvers).
    public let exports: ModuleSymvers
    public let layout: SpecialSectionLayout
    /// New global functions and variables other objects of the same patch define
    /// (`newGlobals`): references to them stay ordinary symbols the patch module's link resolves.
    public let shared: Set<String>

    public init(objectName: String, target: TargetSymbols, vmlinux: TargetSymbols? = nil,
                exports: ModuleSymvers, layout: SpecialSectionLayout, shared: Set<String> = []) {
        self.objectName = objectName
        self.target = target
        self.vmlinux = vmlinux
        self.exports = exports
        self.layout = layout
        self.shared = shared
    }

    /// The global functions and variables `patched` defines and `original` does not:
    /// what this object adds that other objects of the patch may call or use.
    public static func newGlobals(original: URL, patched: URL) throws -> Set<String> {
        func globals(_ url: URL) throws -> Set<String> {
            Set(try ELFObject(url: url).symbols().filter {
                !$0.isLocal && $0.isInSection && ($0.isFunction || $0.isObject) && !$0.name.isEmpty
            }.map(\.name))
        }
        return try globals(patched).subtracting(globals(original))
    }

    /// Diffs `original` against `patched`; writes the patch object to `output`
    /// when given and the outcome is `.changed`.
    public func diff(original originalURL: URL, patched patchedURL: URL, output: URL? = nil) throws -> DiffOutcome {
        let original = try ObjectModel(path: originalURL.path)
        let patched = try ObjectModel(path: patchedURL.path)
        let correlation = Correlator().correlate(original: original, patched: patched)
        var comparison = try Comparator(original: original, patched: patched, correlation: correlation, layout: layout).compare()

        // The author's markers (kpatch-macros.h): never copied; what they ignore counts as unchanged.
        let markers = try AuthorMarkers(patched: patched)
        for i in markers.markerSymbols { comparison.status[i] = nil }
        let ignored = markers.ignoredSymbols(in: patched)
        let ignoredChanges = ignored.filter { comparison.status[$0] == .changed || comparison.status[$0] == .new }
            .map { IgnoredChange(symbol: patched.symbols[$0].name, section: patched.sectionName(of: $0),
                                 marker: markers.ignoredFunctions.contains($0) ? .function : .section) }
            .sorted { ($0.symbol, $0.section) < ($1.symbol, $1.section) }
        for i in ignored where comparison.status[i] != nil { comparison.status[i] = .unchanged }

        let notrace = try NotraceRedirector(original: original, patched: patched, correlation: correlation, layout: layout)
            .redirect(comparison)
        for c in notrace.carried { comparison.status[c] = .changed }
        for (c, reason) in notrace.callers {
            comparison.status[c] = .changed
            comparison.reasons[c] = reason
        }
        comparison.ignored.removeAll { notrace.callers[$0] != nil || notrace.carried.contains($0) }
        let status = comparison.status

        let refusals = try RefusalChecker(original: original, patched: patched, correlation: correlation, status: status,
                                          ignored: ignored).refusals() + notrace.refusals
        guard refusals.isEmpty else { return .refused(refusals) }

        let includer = Includer(patched: patched, status: status, carried: notrace.carried)
        var inclusion = includer.include()
        for (kind, function) in markers.callbacks {
            guard status[function] != .changed else {
                throw DifferError.unsupported(file: patchedURL.path, symbol: patched.symbols[function].name,
                    what: "is a \(kind.label) callback and a changed function of the running object; give the callback a function of its own")
            }
            includer.close(&inclusion, from: [.symbol(function)])
        }
        guard !inclusion.replaced.isEmpty || !inclusion.new.isEmpty || !markers.callbacks.isEmpty else {
            return .noChange
        }

        let specialSections = SpecialSections(patched: patched, layout: layout) { [exports] section, refs in
            // A static call site is an optimization: without it the call goes
            // through the trampoline. Keep it only when its key needs no klp relocation.
            guard section == ".static_call_sites", refs.count > 1, case .symbol(let key) = refs[1].target else { return true }
            let s = patched.symbols[key]
            return s.isUndefined && exports.isExportedByVmlinux(s.name)
        }
        var specials: [SpecialSectionOutput] = []
        while true {
            specials = try specialSections.regenerate(for: inclusion)
            let before = inclusion.count
            // What kept entries point at travels too: their data sections, replacement
            // code, and private data such as a dynamic-debug descriptor a jump label keys on.
            let references = specials.flatMap(\.references)
            includer.close(&inclusion, from: references.map(\.target).filter { target in
                switch target {
                case .section(let i): return !patched.sections[i].isExecutable
                case .symbol(let i): return patched.isPrivate(i) && !patched.symbols[i].isFunction
                }
            })
            // Code fragments: an alternative's replacement by its recorded length (an empty one
            // needs none); any other entry's fragment up to the next place pointed at.
            for special in specials {
                let (replacements, others) = special.fragmentReferences(layout: layout, isFragmentSection: includer.copiedByFragment)
                includer.close(&inclusion, fragments: replacements)
                includer.close(&inclusion, reaching: others)
            }
            if inclusion.count == before { break }
        }

        let resolver = KlpResolver(original: original, patched: patched, correlation: correlation, inclusion: inclusion,
                                   objectName: objectName, target: target, vmlinux: vmlinux, exports: exports, shared: shared)
        let late = try LateRefusals(patched: patched, correlation: correlation, inclusion: inclusion, specials: specials,
                                    resolver: resolver).refusals()
        guard late.isEmpty else { return .refused(late) }
        var replaced: [ReplacedFunction] = []
        var names: [Int: String] = [:]
        for p in inclusion.replaced {
            let o = original.symbols[correlation.patchedToOriginal[p]!]
            let location = try resolver.locate(o)
            let newSymbol = SymbolNames.replacementSymbol(for: location.name, sympos: location.sympos)
            names[p] = newSymbol
            replaced.append(ReplacedFunction(object: objectName, name: location.name, sympos: location.sympos, newSymbol: newSymbol,
                                             reason: comparison.reasons[p] ?? ChangeReason(.code)))
        }
        var callbacks: [PatchCallback] = []
        for (kind, function) in markers.callbacks.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let symbol = PatchCallback.symbolName(object: objectName, kind: kind)
            names[function] = symbol
            callbacks.append(PatchCallback(object: objectName, kind: kind, function: patched.symbols[function].name, newSymbol: symbol))
        }
        let written = try PatchObjectWriter(patched: patched, inclusion: inclusion, specials: specials,
                                            resolver: resolver, replacementNames: names).build()
        if let output { try ELFWriter.write(written.image, to: output.path) }
        var plan = PatchPlan(
            replaced: replaced.sorted { ($0.name, $0.sympos) < ($1.name, $1.sympos) },
            newSymbols: inclusion.symbols.filter { status[$0] == .new && !patched.isPrivate($0) }
                .map { patched.symbols[$0].name }.sorted(),
            klpSymbols: written.klpSymbols.sorted(),
            exportedUndefined: written.exported.sorted(),
            patchObject: output,
            callbacks: callbacks, states: markers.states, ignored: ignoredChanges,
            callbackCallees: calleesOutsidePatch(from: Array(markers.callbacks.values), inclusion: inclusion,
                                                 patched: patched, original: original, correlation: correlation))
        plan.sharedUndefined = written.shared.sorted()
        plan.noiseOnly = comparison.ignored.map { patched.symbols[$0].name }.sorted()
        plan.notraceBodies = notrace.carried.map { patched.symbols[$0].name }.sorted()
        return .changed(plan)
    }

    /// Functions of the running kernel the callbacks' code calls, directly or
    /// through new code of the patch: the kthread analysis treats them as patched.
    private func calleesOutsidePatch(from roots: [Int], inclusion: Inclusion, patched: ObjectModel, original: ObjectModel,
                                     correlation: Correlation) -> [String] {
        // Replaced functions are patched already; only new code is followed.
        var seen = Set(roots).union(inclusion.replaced), work = roots, callees: Set<String> = []
        while let next = work.popLast() {
            for ref in patched.references(of: next) {
                guard case .symbol(let i) = ref.target else { continue }
                let s = patched.symbols[i]
                if inclusion.symbols.contains(i) {
                    if s.isFunction, seen.insert(i).inserted { work.append(i) }
                } else if s.isFunction, let o = correlation.patchedToOriginal[i] {
                    callees.insert(original.symbols[o].name)
                } else if s.isUndefined, ref.type.isPCRelative {
                    callees.insert(s.name)
                }
            }
        }
        return callees.sorted()
    }
}
