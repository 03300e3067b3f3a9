/// Where a reference of the patch object goes.
enum Resolution: Hashable {
    /// A function or variable copied into the patch (patched symbol index).
    case included(Int)
    /// A section copied whole, or by fragment (patched section index).
    case section(Int)
    /// An ordinary undefined symbol, resolved by the module loader (vmlinux exports).
    case exported(String)
    /// An ordinary undefined symbol another object of the same patch defines.
    case shared(String)
    /// A livepatch relocation against `.klp.sym.<object>.<name>,<sympos>`.
    case klp(KlpSymbol)
}

/// Stage 6: decide for every reference of the patch how it is reached.
/// Exported vmlinux symbols (and, from module code, other modules' exports) stay
/// ordinary undefined symbols; everything else
/// of the running kernel (statics, non-exported globals, the module's own
/// symbols) becomes a livepatch relocation with the target's sympos.
struct KlpResolver {
    let original: ObjectModel
    let patched: ObjectModel
    let correlation: Correlation
    let inclusion: Inclusion
    let objectName: String
    let target: TargetSymbols
    /// The debug vmlinux, for module code that reaches non-exported vmlinux symbols.
    let vmlinux: TargetSymbols?
    let exports: ModuleSymvers
    /// New global symbols other objects of the same patch define.
    let shared: Set<String>
    let sourceFile: String
    /// The source file each local symbol of the original object follows (an object
    /// linked from several translation units has one STT_FILE per unit).
    private let fileOf: [Int: String]
    /// The target's block of local symbols for each source file, absent when none matched.
    private let fileBlocks: [String: Int]

    init(original: ObjectModel, patched: ObjectModel, correlation: Correlation, inclusion: Inclusion,
         objectName: String, target: TargetSymbols, vmlinux: TargetSymbols?, exports: ModuleSymvers,
         shared: Set<String> = []) {
        self.original = original
        self.patched = patched
        self.correlation = correlation
        self.inclusion = inclusion
        self.objectName = objectName
        self.target = target
        self.vmlinux = vmlinux
        self.exports = exports
        self.shared = shared
        sourceFile = original.sourceFile
        var fileOf: [Int: String] = [:], current = sourceFile
        var locals: [String: Set<String>] = [:]
        for s in original.symbols where s.isLocal {
            if s.isFile { current = s.name; continue }
            fileOf[s.index] = current
            if s.isInSection, s.isFunction || s.isObject, !original.isPrivate(s.index) { locals[current, default: []].insert(s.name) }
        }
        self.fileOf = fileOf
        var blocks: [String: Int] = [:]
        for (file, names) in locals { blocks[file] = target.fileBlock(sourceFile: file, localNames: names) }
        fileBlocks = blocks
    }

    func resolve(_ reference: Reference.Target) throws -> Resolution {
        switch reference {
        case .section(let i):
            guard inclusion.sections.contains(i) || inclusion.fragments[i] != nil else {
                throw DifferError.unsupported(file: patched.path, symbol: patched.sections[i].name,
                    what: "referenced by address inside a section that is not copied; build with -fdata-sections")
            }
            return .section(i)
        case .symbol(let i):
            if inclusion.symbols.contains(i) { return .included(i) }
            let s = patched.symbols[i]
            guard s.isInSection else { return try external(s.name) }
            guard let o = correlation.patchedToOriginal[i] else {
                throw DifferError.unsupported(file: patched.path, symbol: s.name, what: "referenced but neither in the original object nor included")
            }
            return try existing(original.symbols[o])
        }
    }

    /// The running object's location of a replaced or referenced symbol of this translation unit.
    func locate(_ symbol: ELFSymbol) throws -> TargetSymbols.Location {
        guard symbol.isLocal else { return try target.locate(symbol.name, inBlock: nil, sourceFile: sourceFile) }
        let file = fileOf[symbol.index] ?? sourceFile
        guard let fileBlock = fileBlocks[file] else {
            throw DifferError.sourceFileNotInTarget(file: original.path, sourceFile: file, target: target.path)
        }
        return try target.locate(symbol.name, inBlock: fileBlock, sourceFile: file)
    }

    /// A symbol this translation unit defines and the running object already has.
    private func existing(_ symbol: ELFSymbol) throws -> Resolution {
        if !symbol.isLocal, objectName == "vmlinux", exports.isExportedByVmlinux(symbol.name) { return .exported(symbol.name) }
        let location = try locate(symbol)
        return .klp(KlpSymbol(object: objectName, name: location.name, sympos: location.sympos))
    }

    /// A symbol this translation unit does not define.
    private func external(_ name: String) throws -> Resolution {
        if shared.contains(name) { return .shared(name) }
        if exports.isExportedByVmlinux(name) { return .exported(name) }
        // Defined by the patch-module template (kmod/kpatch-patch.c), for kpatch-macros.h.
        if AuthorMarkers.templateSymbols.contains(name) { return .exported(name) }
        if target.definesGlobal(name) {
            let location = try target.locate(name, inBlock: nil, sourceFile: sourceFile)
            return .klp(KlpSymbol(object: objectName, name: location.name, sympos: location.sympos))
        }
        if let module = exports.exporter(of: name), module != "vmlinux" {
            // Another module's export. From a module patch: an ordinary undefined symbol, so
            // modpost records the dependency (modinfo depends=) and the loader resolves it.
            // From vmlinux code: a livepatch relocation on that module's klp_object, written
            // when the module loads (vmlinux never depends on a module, which may load later).
            guard objectName == "vmlinux" else { return .exported(name) }
            return .klp(KlpSymbol(object: ModuleSymvers.livepatchName(module), name: name, sympos: 0))
        }
        if objectName != "vmlinux" {
            if let vmlinux, vmlinux.definesGlobal(name) {
                let location = try vmlinux.locate(name, inBlock: nil, sourceFile: sourceFile)
                return .klp(KlpSymbol(object: "vmlinux", name: location.name, sympos: location.sympos))
            }
        }
        throw DifferError.unresolvedSymbol(file: patched.path, symbol: name,
            why: "not exported by vmlinux (Module.symvers), not defined in \(target.path) nor new in another object of this patch\(objectName == "vmlinux" || vmlinux != nil ? "" : "; pass the debug vmlinux for non-exported kernel symbols")")
    }
}
