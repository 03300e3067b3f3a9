import FoundationEssentials
import PatchModel

/// The stages every target shares once original and patched objects exist:
/// diff each pair, link the patch objects with the template through Kbuild,
/// rewrite the livepatch relocations, verify the module.
struct PatchAssembler {
    /// One rebuilt translation unit.
    struct ObjectPair {
        /// For messages: the object's path in its tree.
        let object: String
        let original: URL
        let patched: URL
        /// The livepatch object it belongs to: "vmlinux" or a module name.
        let livepatchObject: String
        /// That object's symbol table: the module's .ko or the debug vmlinux.
        let targetSymbols: URL
    }

    let kernel: TargetKernel
    let kernelImage: TargetKernelImage
    let templateDir: URL
    let patchName: String
    let work: URL
    let clock: StageClock
    /// Where the release's link recipe is kept.
    let cache: BuildCache
    /// vmlinux's exports (the target's Module.symvers), read once for diff and verify.
    let exports: ModuleSymvers

    init(kernel: TargetKernel, kernelImage: TargetKernelImage, templateDir: URL, patchName: String,
         work: URL, clock: StageClock, cache: BuildCache) throws {
        self.kernel = kernel
        self.kernelImage = kernelImage
        self.templateDir = templateDir
        self.patchName = patchName
        self.work = work
        self.clock = clock
        self.cache = cache
        exports = try ModuleSymvers(contentsOf: kernel.moduleSymvers)
    }

    /// A pair the differ found changed, with what it makes of it.
    struct DiffedObject {
        let pair: ObjectPair
        let plan: PatchPlan
    }

    /// Diffs every pair; refusals of all objects are reported together.
    func diff(_ pairs: [ObjectPair]) throws -> [DiffedObject] {
        try clock.run(.diff) {
            let layout = try kernelImage.specialSectionLayout()
            let vmlinux = try kernelImage.symbols()
            var plans: [DiffedObject] = []
            var refusals: [Refusal] = []
            // One patch, one module: what an object adds, the others may call or use.
            var newGlobals: [String: Set<String>] = [:]
            for pair in pairs { newGlobals[pair.object] = try ObjectDiffer.newGlobals(original: pair.original, patched: pair.patched) }
            for pair in pairs {
                let shared = newGlobals.filter { $0.key != pair.object }.values.reduce(into: Set<String>()) { $0.formUnion($1) }
                let target = pair.livepatchObject == "vmlinux" ? vmlinux
                    : try TargetSymbols(object: ELFObject(url: pair.targetSymbols), objectName: pair.livepatchObject)
                let differ = ObjectDiffer(objectName: pair.livepatchObject, target: target, vmlinux: vmlinux,
                                          exports: exports, layout: layout, shared: shared)
                let output = work.appendingPathComponent("diff/\(plans.count)-\(pair.patched.lastPathComponent)")
                try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
                switch try differ.diff(original: pair.original, patched: pair.patched, output: output) {
                case .noChange: clock.note(.diff, "\(pair.object): no function changed")
                case .changed(let plan):
                    plans.append(DiffedObject(pair: pair, plan: plan))
                    for (body, callers) in plan.notraceCallers {
                        clock.note(.diff, "\(pair.object): \(body) is notrace (no __fentry__ call): replacing its traced caller(s) \(callers.joined(separator: ", ")), which call the new body")
                    }
                case .refused(let r): refusals += r
                }
            }
            guard refusals.isEmpty else { throw BuildError.refused(refusals) }
            guard !plans.isEmpty else { throw BuildError.noChange }
            return plans
        }
    }

    /// What the author API markers of all objects add up to: one callback per
    /// object and kind, one version per state id, and per object the running
    /// functions the callbacks call (its own code, not vmlinux's exported API),
    /// which the kthread analysis treats as patched.
    func authorAPI(_ plans: [PatchPlan]) throws -> (callbacks: [PatchCallback], states: [SystemState], callees: [String: [String]]) {
        var callbacks: [PatchCallback] = []
        for c in plans.flatMap(\.callbacks) {
            if let other = callbacks.first(where: { $0.object == c.object && $0.kind == c.kind }) {
                throw BuildError.verification("\(c.object) has two \(c.kind.label) callbacks (\(other.function) and \(c.function)); the kernel runs one per object: call both from one function")
            }
            callbacks.append(c)
        }
        var states: [SystemState] = []
        for state in plans.flatMap(\.states) where !states.contains(state) {
            if let other = states.first(where: { $0.id == state.id }) {
                throw BuildError.verification("state \(state.id) is declared with versions \(other.version) and \(state.version); declare one version per state (KPATCH_STATE)")
            }
            states.append(state)
        }
        var callees: [String: [String]] = [:]
        for plan in plans {
            guard let object = plan.callbacks.first?.object else { continue }
            callees[object, default: []] += plan.callbackCallees.filter { !exports.isExportedByVmlinux($0) }
        }
        return (callbacks, states, callees)
    }

    /// Build-summary lines for what the author marked as ignored.
    func noteIgnored(_ plans: [PatchPlan]) {
        for change in plans.flatMap(\.ignored) { clock.note(.diff, "ignored \(change)") }
    }

    /// Links the patch module and returns it with the klp relocations in place, and which way
    /// it was linked: the release's recorded Kbuild commands (`PatchModuleLinkRecipe`, recorded
    /// by a make run on a probe module the first time), or make where no recipe can be had.
    func link(_ diffed: [DiffedObject], metadata: PatchMetadata, with linkWith: PatchModuleLinker? = nil) throws -> (module: URL, linker: PatchModuleLinker) {
        try clock.run(.link) {
            let dir = work.appendingPathComponent("link")
            let relocationObjects = Set(diffed.flatMap(\.plan.klpSymbols).map(\.object)).sorted()
            let objects = try diffed.compactMap { d in
                try d.plan.patchObject.map { url in
                    PatchModuleSources.PatchObject(url: url, symbolVersions: try KbuildCommandFile(object: d.pair.patched).symbolVersionLines())
                }
            }
            func sources(_ name: String) -> PatchModuleSources {
                PatchModuleSources(name: name, templateDir: templateDir, metadata: metadata,
                                   patchObjects: objects, relocationObjects: relocationObjects)
            }
            try sources(patchName).write(to: dir)
            try ObjtoolDeferral.prepareShippedObjects(in: dir, headers: kernel.headers)
            let linker: PatchModuleLinker
            let output: String
            if linkWith != .make, let recipe = try linkRecipe(sources(PatchModuleLinkRecipe.probeName)) {
                output = try Self.link(dir: dir, name: patchName, sources: sources(patchName), recipe: recipe, kernel: kernel)
                linker = .recordedCommands
            } else {
                output = try Self.makeLink(dir: dir, kernel: kernel, verbose: false)
                linker = .make
            }
            clock.note(.link, "linked with \(linker == .make ? "make" : "the release's recorded Kbuild commands")")
            // objtool checks the linked module on IBT kernels (ObjtoolDeferral): its warnings
            // (`data relocation to !ENDBR`, unreachable code, stack state) are shown, not dropped.
            let warnings = output.split(separator: "\n").filter { $0.contains("warning:") }.map(String.init)
            for line in warnings { clock.note(.link, line) }
            let ko = dir.appendingPathComponent("\(patchName).ko")
            // objtool gives up on a module it cannot follow and writes none of its sections: without
            // ORC and return sites every return of the patch runs the unpatched return thunk (the
            // kernel WARNs) and no stack through it is reliable. Refused, naming objtool's words.
            if try ObjtoolDeferral.isDeferred(headers: kernel.headers),
               try ELFObject(url: ko).section(named: ".orc_unwind_ip") == nil {
                throw BuildError.verification("objtool wrote no ORC or return sites for the linked patch module (\(warnings.joined(separator: "; "))). "
                    + "On this kernel objtool runs on the linked module and gave up on the function it names: without ORC the "
                    + "patch's stacks are unreliable and its returns run the unpatched return thunk, so it is not shipped. "
                    + "Change the code objtool cannot follow there (docs/KERNEL-6.12.md, \"objtool on the linked module\")")
            }
            try KlpPostLink().run(module: ko)
            return (ko, linker)
        }
    }

    /// `make M=<dir> modules` in the headers: Kbuild links the module in `dir`. Returns make's output.
    static func makeLink(dir: URL, kernel: TargetKernel, verbose: Bool) throws -> String {
        try CommandRunner.check(.link, kernel.toolchain.command(["make", verbose ? "V=1" : "-s", "-C", kernel.headers.path,
                                                                 "M=\(dir.path)", "modules"]))
    }

    /// Links module `name` in `dir` (written by `sources`) with `recipe`'s commands, in the
    /// headers directory and through the target's toolchain as make would run them. Returns
    /// their output.
    static func link(dir: URL, name: String, sources: PatchModuleSources, recipe: PatchModuleLinkRecipe,
                     kernel: TargetKernel) throws -> String {
        let fm = FileManager.default
        // What Kbuild's own rules would write first: the shipped objects under their names, the
        // `.mod` object list, modules.order.
        for object in sources.shippedObjects {
            let target = dir.appendingPathComponent(object)
            try? fm.removeItem(at: target)
            try fm.copyItem(at: dir.appendingPathComponent(object + "_shipped"), to: target)
        }
        try PatchModuleLinkRecipe.modList(dir: dir, objects: sources.kbuildObjects)
            .write(to: dir.appendingPathComponent("\(name).mod"), atomically: true, encoding: .utf8)
        try recipe.modulesOrder(dir: dir, name: name)
            .write(to: dir.appendingPathComponent("modules.order"), atomically: true, encoding: .utf8)
        try recipe.commonObject?.write(to: dir.appendingPathComponent(PatchModuleLinkRecipe.commonObjectName))
        return try CommandRunner.check(.link, kernel.toolchain.command(["sh", "-c", recipe.script(headers: kernel.headers, dir: dir, name: name)]),
                                       environment: recipe.environment(dir: dir, name: name))
    }

    /// The release's link recipe: the cached one, else recorded now from a make run on a probe
    /// module (`probe`: this patch's sources under the probe's name); nil when none can be had,
    /// with the reason noted (and cached, so later builds go to make directly).
    private func linkRecipe(_ probe: PatchModuleSources) throws -> PatchModuleLinkRecipe? {
        let key = try PatchModuleLinkRecipe.key(kernel: kernel, templateDir: templateDir)
        let file = PatchModuleLinkRecipe.file(cache: cache, release: kernel.release)
        switch try PatchModuleLinkRecipe.load(from: file, key: key) {
        case .recipe(let recipe): return recipe
        case .unavailable(let reason):
            clock.note(.link, "no recorded link commands for this kernel (\(reason)): make links")
            return nil
        case .missing: break
        }
        let dir = work.appendingPathComponent("link-probe")
        try probe.write(to: dir)
        let kbuild = dir.appendingPathComponent("Kbuild")
        try (String(contentsOf: kbuild, encoding: .utf8) + PatchModuleLinkRecipe.environmentRule).write(to: kbuild, atomically: true, encoding: .utf8)
        try ObjtoolDeferral.prepareShippedObjects(in: dir, headers: kernel.headers)
        let output = try Self.makeLink(dir: dir, kernel: kernel, verbose: true)
        let outcome = PatchModuleLinkRecipe.record(probe: dir, objects: probe.kbuildObjects, makeOutput: output, key: key, work: work)
        try PatchModuleLinkRecipe.save(outcome, key: key, to: file)
        switch outcome {
        case .success(let recipe):
            clock.note(.link, "recorded this kernel's link commands (\(file.path))")
            return recipe
        case .failure(let reason):
            clock.note(.link, "no recorded link commands for this kernel (\(reason.reason)): make links")
            return nil
        }
    }

    /// Verifies the linked module, signs it (`sign`, after the checks: the signature covers
    /// what was checked) and copies it to `output`; when the patch exports symbols (a new
    /// `EXPORT_SYMBOL` function), its Module.symvers goes beside it (`symversFile(for:)`)
    /// and is returned with the exported names.
    func verifyAndInstall(_ ko: URL, vermagic: String?, output: URL, sign: ((URL) throws -> Void)? = nil) throws
        -> (module: KernelModuleFile, exports: [String]) {
        try clock.run(.verify) {
            let module = try PatchModuleVerifier(exports: exports, vermagic: vermagic).verify(ko, patchName: patchName)
            try sign?(ko)
            let fm = FileManager.default
            try? fm.removeItem(at: output)
            try fm.copyItem(at: ko, to: output)
            let symvers = Self.symversFile(for: output)
            // A file of an earlier build must not pass for this one's exports.
            if fm.fileExists(atPath: symvers.path) { try fm.removeItem(at: symvers) }
            let built = ko.deletingLastPathComponent().appendingPathComponent("Module.symvers")
            let own = try ModuleSymvers(contentsOf: built).symbols
            if !own.isEmpty { try fm.copyItem(at: built, to: symvers) }
            return (module, own)
        }
    }

    /// Where the Module.symvers of patch module `output` goes: `fix.ko` -> `fix.symvers`.
    /// Modules that call the patch's new exports are built with `KBUILD_EXTRA_SYMBOLS=` it,
    /// so their `__versions` carry the CRCs the patch module exports (CONFIG_MODVERSIONS
    /// refuses a module without them: "no symbol version for ...").
    static func symversFile(for output: URL) -> URL {
        output.deletingPathExtension().appendingPathExtension("symvers")
    }
}
