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

    public init(objectName: String, target: TargetSymbols, vmlinux: TargetSymbols? = nil,
                exports: ModuleSymvers, layout: SpecialSectionLayout) {
        self.objectName = objectName
        self.target = target
        self.vmlinux = vmlinux
        self.exports = exports
        self.layout = layout
    }

    /// Diffs `original` against `patched`; writes the patch object to `output`
    /// when given and the outcome is `.changed`.
    public func diff(original originalURL: URL, patched patchedURL: URL, output: URL? = nil) throws -> DiffOutcome {
        let original = try ObjectModel(path: originalURL.path)
        let patched = try ObjectModel(path: patchedURL.path)
        let correlation = Correlator().correlate(original: original, patched: patched)
        let status = try Comparator(original: original, patched: patched, correlation: correlation).compare()

        let refusals = try RefusalChecker(original: original, patched: patched, correlation: correlation, status: status).refusals()
        guard refusals.isEmpty else { return .refused(refusals) }

        let includer = Includer(patched: patched, status: status)
        var inclusion = includer.include()
        guard !inclusion.replaced.isEmpty || !inclusion.new.isEmpty else { return .noChange }

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
            let before = (inclusion.symbols.count, inclusion.sections.count)
            includer.close(&inclusion, from: specials.flatMap { $0.references.map(\.target) }.filter { target in
                if case .section(let i) = target { return !patched.sections[i].isExecutable || patched.sections[i].name == ".altinstr_replacement" }
                return false
            })
            if (inclusion.symbols.count, inclusion.sections.count) == before { break }
        }

        let resolver = KlpResolver(original: original, patched: patched, correlation: correlation, inclusion: inclusion,
                                   objectName: objectName, target: target, vmlinux: vmlinux, exports: exports)
        var replaced: [ReplacedFunction] = []
        var names: [Int: String] = [:]
        for p in inclusion.replaced {
            let o = original.symbols[correlation.patchedToOriginal[p]!]
            let location = try resolver.locate(o)
            let newSymbol = SymbolNames.replacementSymbol(for: location.name, sympos: location.sympos)
            names[p] = newSymbol
            replaced.append(ReplacedFunction(object: objectName, name: location.name, sympos: location.sympos, newSymbol: newSymbol))
        }
        let written = try PatchObjectWriter(patched: patched, inclusion: inclusion, specials: specials,
                                            resolver: resolver, replacementNames: names).build()
        if let output { try ELFWriter.write(written.image, to: output.path) }
        let plan = PatchPlan(
            replaced: replaced.sorted { ($0.name, $0.sympos) < ($1.name, $1.sympos) },
            newSymbols: inclusion.symbols.filter { status[$0] == .new && !patched.isPrivate($0) }
                .map { patched.symbols[$0].name }.sorted(),
            klpSymbols: written.klpSymbols.sorted(),
            exportedUndefined: written.exported.sorted(),
            patchObject: output)
        return .changed(plan)
    }
}
