import FoundationEssentials
import KthreadSafety
import PatchModel

/// The kernel itself: vmlinux and the in-tree modules, each patched as its own
/// livepatch object. The release's source tree is prepared once into the cache;
/// only the objects the diff touches are compiled, the original side in that tree
/// and the patched side in a private overlay of it (`KernelSourceTree.buildPatched`),
/// so a build never writes a patched file into the cache.
final class KernelBuildTarget: BuildTargetStrategy {
    let options: KernelTargetOptions
    /// Held from before the cache is read until the patched objects are out of the tree.
    private var lock: TreeLock?
    private var tree: KernelSourceTree?
    private var store: OriginalObjectStore?
    private var vermagic = ""
    private var selection: KernelObjectSelection?
    private var builtSources: KernelBuiltSources?
    private var objects: [String] = []
    private var ignored: [String] = []
    private var targets: [String: String?] = [:]
    private var modules = URL(fileURLWithPath: "/")

    init(_ options: KernelTargetOptions) { self.options = options }

    /// `--modules-dir`, else /lib/modules/<release> when this machine has it, else the modules
    /// of linux-image-<release> fetched into the package store.
    private func modulesDir(_ build: BuildContext) throws -> URL {
        if let dir = options.modulesDir { return dir }
        let release = build.kernel.release
        let installed = URL(fileURLWithPath: "/lib/modules/\(release)")
        guard !FileManager.default.fileExists(atPath: installed.appendingPathComponent("kernel").path),
              let debian = DebianKernelRelease(release) else { return installed }
        let store = build.request.packageStore
        try store.fetch(debian, parts: [.image]) { build.clock.note(.prepare, $0) }
        return store.modulesDir(release)
    }

    /// The touched files with the diff applied: compared with the tree's to scope
    /// header changes, then laid over the tree for the patched build.
    private func patchedSources(_ build: BuildContext) -> URL { build.work.appendingPathComponent("patched-sources") }

    func prepare(_ build: BuildContext) throws {
        let release = build.kernel.release
        lock = try TreeLock.kernelTree(release: release, cache: build.request.cache)
        tree = try KernelSourceTree.prepare(
            release: release, source: try options.source ?? defaultSource(build),
            config: options.config ?? build.kernel.headers.appendingPathComponent(".config"),
            toolchain: build.kernel.toolchain, cache: build.request.cache) { build.clock.note(.prepare, $0) }
        modules = try modulesDir(build)
        if let tree {
            store = try OriginalObjectStore(tree: tree)
            try store?.removeStaleTemporaries()
        }
        vermagic = try build.kernel.vermagic(cache: build.request.cache)
    }

    func applyDiff(_ build: BuildContext) throws {
        guard let tree else { throw BuildError.verification("patch before prepare") }
        let scope = try KernelDiffScope(diff: build.diff)
        let applier = DiffApplier(diff: build.diff, diffFile: build.request.diffFile)
        let patched = patchedSources(build)
        try applier.check(tree.dir, copyOf: tree.dir)
        try copy(build.diff.touchedPaths, from: tree.dir, to: patched)
        try applier.apply(to: patched, copyOf: tree.dir)
        let built = try KernelBuiltSources.read(image: build.image, modulesDir: modules, cache: build.request.cache)
        builtSources = built
        let selection = try KernelObjectSelection.select(scope, .init(
            tree: tree, preview: patched, graphs: IncludeGraphLoader { try tree.includeGraph() }, built: built,
            release: build.kernel.release))
        selection.notes.forEach { build.clock.note(.patch, $0) }
        ignored = selection.ignored
        try predict(selection, tree: tree, build)
        self.selection = selection
    }

    /// The compile's predicted time, from the object count, before anything is compiled;
    /// refused only above `--max-objects`.
    private func predict(_ selection: KernelObjectSelection, tree: KernelSourceTree, _ build: BuildContext) throws {
        let total = selection.objects.count
        let entries = selection.objects.map { store?.lookup($0) }
        let cached = entries.filter { $0 != nil }.count
        // Only objects that compile have a patched side: not those stored as unconfigured or failing.
        let compiling = entries.filter { if case .object? = $0 { return true }; return $0 == nil }.count
        let estimate = CompileEstimate(tree: tree)
        let predicted = CompileEstimate.describe(estimate.seconds(objects: total - cached + compiling))
        guard total <= options.maxObjects else {
            throw KernelDiffScope.Refusal.tooManyObjects(
                users: selection.users, total: total, limit: options.maxObjects,
                predicted: "\(predicted) with \(estimate.jobs) jobs")
        }
        guard total > 1 else { return }
        build.clock.note(.patch, "compiling \(total) objects, original\(cached > 0 ? " (\(cached) cached)" : "") and patched: about \(predicted) with \(estimate.jobs) jobs")
    }

    /// The originals come from the store (`OriginalObjectStore`); make builds the others in
    /// the cached tree, and what it built is stored for the next build.
    func buildOriginals(_ build: BuildContext) throws {
        guard let tree, let selection, let store else { throw BuildError.verification("original build before patch") }
        var found: [String: URL] = [:], unconfigured: [String] = [], missing: [String] = []
        var failedBefore: [String: String] = [:]
        for object in selection.objects {
            switch store.lookup(object) {
            case .object(let file)?: found[object] = file
            case .unconfigured?: unconfigured.append(object)
            case .failed(let error)?: failedBefore[object] = error
            case nil: missing.append(object)
            }
        }
        if !missing.isEmpty {
            let progress = KbuildProgress(objects: missing, stage: .originalBuild, clock: build.clock)
            let (built, failed) = try tree.buildConfigured(missing, stage: .originalBuild, onLine: progress.line)
            CompileEstimate(tree: tree).record(objects: progress.done, seconds: progress.seconds)
            // A vmlinux compilation unit must compile; a file of a module's directory that does
            // not compile with this configuration is not part of the target. Its failure is
            // stored only with the compiler's own error (a killed compiler may pass next time).
            let broken = failed.filter { builtSources?.vmlinuxUnits.contains(String($0.key.dropLast(2)) + ".c") ?? true }
            guard broken.isEmpty else {
                throw BuildError.commandFailed(stage: .originalBuild, command: "make \(broken.keys.sorted().joined(separator: " "))",
                                               status: 2, output: broken.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.message)" }.joined(separator: "\n"))
            }
            for (object, failure) in failed.sorted(by: { $0.key < $1.key }) {
                if failure.diagnosed { try store.storeFailed(object, error: failure.message) }
                ignored.append("\(object) does not compile with \(build.kernel.release)'s configuration, so the target does not build it (\(failure.message))")
            }
            for object in built {
                try store.store(object, from: tree.dir.appendingPathComponent(object))
                if case .object(let file)? = store.lookup(object) { found[object] = file }
            }
            for object in missing where !built.contains(object) && failed[object] == nil {
                try store.storeUnconfigured(object)
                unconfigured.append(object)
            }
        }
        if missing.count < selection.objects.count {
            build.clock.note(.originalBuild, "\(selection.objects.count - missing.count) of \(selection.objects.count) original objects from the cache")
        }
        for (object, error) in failedBefore.sorted(by: { $0.key < $1.key }) {
            ignored.append("\(object) does not compile with \(build.kernel.release)'s configuration, so the target does not build it (\(error); from the cache)")
        }
        ignored += unconfigured.sorted().map { "\($0) is not built in \(build.kernel.release)'s configuration (Kbuild has no rule for it)" }
        // Kbuild compiles any file of a directory on request: one the target does not build
        // comes out as built-in code that is no vmlinux unit, or for a module the target lacks.
        var built: [String] = []
        for object in selection.objects where found[object] != nil {
            switch try tree.owner(of: object) {
            case .vmlinux where !(builtSources?.vmlinuxUnits.contains(String(object.dropLast(2)) + ".c") ?? true):
                ignored.append("\(object) is neither a compilation unit of \(build.kernel.release)'s vmlinux nor compiled as a module: the configuration does not build it")
            case .module(let name) where findModule(name, in: modules) == nil:
                ignored.append("\(object) belongs to module \(name), which \(build.kernel.release) does not have")
            default:
                built.append(object)
            }
        }
        guard !built.isEmpty else { throw BuildError.nothingToPatch(ignored: ignored) }
        let fm = FileManager.default
        for object in built {
            let target = build.work.appendingPathComponent("original").appendingPathComponent(object)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: found[object]!, to: target)
        }
        objects = built
        ignored.forEach { build.clock.note(.originalBuild, "ignored: " + $0) }
    }

    func buildPatched(_ build: BuildContext) throws -> [PatchAssembler.ObjectPair] {
        guard let tree else { throw BuildError.verification("rebuild before prepare") }
        let fm = FileManager.default
        let originals = build.work.appendingPathComponent("original"), patched = build.work.appendingPathComponent("patched")
        let progress = KbuildProgress(objects: objects, stage: .rebuild, clock: build.clock)
        let builtObjects = try tree.buildPatched(objects, upper: patchedSources(build), stage: .rebuild,
                                                 authorInclude: AuthorHeaders.directory(template: build.request.templateDir),
                                                 onLine: progress.line)
        CompileEstimate(tree: tree).record(objects: progress.done, seconds: progress.seconds)
        for (object, built) in zip(objects, builtObjects) {
            let target = patched.appendingPathComponent(object)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: built, to: target)
            // Its command file carries the CRCs of what it exports (`#SYMVER`), which the patch module's export table needs.
            let cmd = KbuildCommandFile(object: built)
            if cmd.exists { try fm.copyItem(at: cmd.url, to: KbuildCommandFile(object: target).url) }
        }
        var pairs: [PatchAssembler.ObjectPair] = []
        for object in objects {
            let owner = try tree.owner(of: object)
            let symbols: URL
            switch owner {
            case .vmlinux:
                symbols = build.image.path
                targets["vmlinux"] = build.image.buildID
            case .module(let name):
                let ko = try moduleFile(name, build)
                symbols = ko
                targets[name] = try KernelModuleFile(path: ko.path).buildID
            }
            pairs.append(.init(object: object, original: originals.appendingPathComponent(object),
                               patched: patched.appendingPathComponent(object),
                               livepatchObject: owner.livepatchObjectName, targetSymbols: symbols))
        }
        lock?.release()
        build.clock.note(.rebuild, "rebuilt \(objects.joined(separator: ", "))")
        return pairs
    }

    func identity(_ build: BuildContext) throws -> (targets: [PatchMetadata.Target], vermagic: String?) {
        (targets.keys.sorted().map { .init(object: $0, buildID: targets[$0] ?? nil) }, vermagic)
    }

    /// vmlinux's graph comes from the debug vmlinux (cached by build id); an in-tree
    /// module's from its debug build, when the -dbg package is there.
    func kthreadSources(_ build: BuildContext) -> KthreadSources {
        var sources = KthreadSources()
        let image = build.image
        if targets.keys.contains("vmlinux") {
            let cacheDir = build.request.cache.root.appendingPathComponent("callgraph")
            sources.graphs["vmlinux"] = { try CallGraphCache.graph(for: image.path.path, cacheDirectory: cacheDir) }
            sources.code["vmlinux"] = { try DataAccessReader(path: image.path.path) }
            sources.resume["vmlinux"] = KthreadResumeAnalysis(vmlinux: image.path.path, cacheDirectory: cacheDir)
        }
        let installed = URL(fileURLWithPath: "/usr/lib/debug/lib/modules/\(build.kernel.release)")
        let stored = build.request.packageStore.debugModulesDir(build.kernel.release)
        let debugModules = options.modulesDebugDir
            ?? (!FileManager.default.fileExists(atPath: installed.path) && FileManager.default.fileExists(atPath: stored.path) ? stored : installed)
        for module in targets.keys.sorted() where module != "vmlinux" {
            if let debug = findModule(module, in: debugModules) {
                let work = build.work.appendingPathComponent("debug-modules")
                sources.graphs[module] = { try CallGraphBuilder.build(path: ModuleFile.readable(debug, in: work).path) }
                sources.code[module] = { try DataAccessReader(path: ModuleFile.readable(debug, in: work).path) }
            } else {
                sources.missing.append("\(module): no debug build in \(debugModules.path) (linux-image-\(build.kernel.release)-dbg, or --modules-debug-dir); the patch carries no kthread analysis for it")
            }
        }
        return sources
    }

    var outcome: (rebuilt: [String], originalBuildCached: Bool, ignoredFiles: [String]) { (objects, true, ignored) }

    /// Debian's source tarball for the release's major.minor (from the headers' Makefile) in
    /// /usr/src, else (a Debian release) linux-source-<major.minor> fetched into the package store.
    private func defaultSource(_ build: BuildContext) throws -> URL {
        let installed = try installedSource(build.kernel)
        guard !FileManager.default.fileExists(atPath: installed.path), let debian = DebianKernelRelease(build.kernel.release) else {
            return installed
        }
        let store = build.request.packageStore
        try store.fetch(debian, parts: [.source]) { build.clock.note(.prepare, $0) }
        return store.sourceTarball(debian)
    }

    private func installedSource(_ kernel: TargetKernel) throws -> URL {
        let makefile = try String(contentsOf: kernel.headers.appendingPathComponent("Makefile"), encoding: .utf8)
        func value(_ key: String) -> String? {
            makefile.split(separator: "\n").first { $0.hasPrefix("\(key) = ") }.map { String($0.dropFirst(key.count + 3)) }
        }
        // Debian's arch headers Makefile includes the common one, which has VERSION/PATCHLEVEL.
        if let version = value("VERSION"), let patchlevel = value("PATCHLEVEL") {
            return URL(fileURLWithPath: "/usr/src/linux-source-\(version).\(patchlevel).tar.xz")
        }
        let parts = kernel.release.split(separator: ".")
        guard parts.count >= 2 else { throw BuildError.missingInput(what: "kernel source (pass --source)", path: kernel.release) }
        return URL(fileURLWithPath: "/usr/src/linux-source-\(parts[0]).\(parts[1]).tar.xz")
    }

    /// The target's own build of in-tree module `name`.
    private func moduleFile(_ name: String, _ build: BuildContext) throws -> URL {
        let dir = modules
        guard let found = findModule(name, in: dir) else {
            throw BuildError.missingInput(what: "module \(name) of \(build.kernel.release) (pass --modules-dir)", path: dir.path)
        }
        return try ModuleFile.readable(found, in: build.work.appendingPathComponent("modules"))
    }

    /// Module `name` below `dir`, plain or compressed (`ModuleFile`).
    private func findModule(_ name: String, in dir: URL) -> URL? {
        let wanted = name.replacing("-", with: "_")
        return (try? DirectoryWalk.entries(under: dir))?.first { ModuleFile.moduleName(of: $0.url.lastPathComponent) == wanted }?.url
    }

    private func copy(_ paths: [String], from: URL, to: URL) throws {
        let fm = FileManager.default
        for path in paths {
            let target = to.appendingPathComponent(path)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: from.appendingPathComponent(path), to: target)
        }
    }
}
