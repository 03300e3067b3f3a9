import FoundationEssentials
import PatchModel
import KthreadSafety

/// `kpatchctl build` for the kernel itself: prepare the release's source tree once
/// (cached), build only the objects the diff touches, original and patched, in
/// that tree, then the shared diff, link and verify stages. vmlinux objects and
/// in-tree module objects are patched as their own livepatch objects.
public final class KernelPatchBuilder {
    let request: KernelBuildRequest
    let clock: StageClock

    public init(request: KernelBuildRequest, progress: @escaping (BuildEvent) -> Void = { _ in }) {
        self.request = request
        self.clock = StageClock(progress: progress)
    }

    public func build() throws -> BuildResult {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("kpatchctl-build-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: work) }

        let (diff, scope, kernel, image, patchName, tree, vermagic) = try clock.run(.prepare) {
            () -> (SourceDiff, KernelDiffScope, TargetKernel, TargetKernelImage, String, KernelSourceTree, String) in
            let diff = try SourceDiff.read(request.diffFile)
            let scope = try KernelDiffScope(diff: diff)
            let kernel = try TargetKernel.locate(release: request.kernelRelease, headers: request.headers)
            let image = try TargetKernelImage.locate(release: kernel.release, explicit: request.vmlinux)
            let name = try ModuleBuildRequest.checkedPatchName(request.patchName, diff: request.diffFile)
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            let tree = try KernelSourceTree.prepare(
                release: kernel.release, source: try request.source ?? defaultSource(kernel),
                config: request.config ?? kernel.headers.appendingPathComponent(".config"),
                cache: request.cache) { clock.note(.prepare, $0) }
            return (diff, scope, kernel, image, name, tree, try kernel.vermagic(cache: request.cache))
        }

        // One build at a time patches the shared tree; the diff is undone on every path out.
        let lock = try TreeLock(path: request.cache.root.appendingPathComponent("kernels/\(kernel.release)/lock"))
        defer { withExtendedLifetime(lock) {} }
        let originals = work.appendingPathComponent("original"), patched = work.appendingPathComponent("patched")
        let applier = DiffApplier(diff: diff, diffFile: request.diffFile)
        let selection = try clock.run(.patch) { () -> KernelObjectSelection in
            try applier.check(tree.dir, copyOf: tree.dir)
            // The touched files with the diff applied, to compare headers old and new.
            let preview = work.appendingPathComponent("preview")
            try copy(diff.touchedPaths, from: tree.dir, to: preview)
            try applier.apply(to: preview, copyOf: tree.dir)
            let built = try KernelBuiltSources.read(
                image: image, modulesDir: request.modulesDir ?? URL(fileURLWithPath: "/lib/modules/\(kernel.release)"),
                cache: request.cache)
            return try KernelObjectSelection.select(scope, .init(
                tree: tree, preview: preview, graphs: IncludeGraphLoader { try tree.includeGraph() }, built: built, release: kernel.release,
                limit: request.maxChangedObjects))
        }
        selection.notes.forEach { clock.note(.patch, $0) }
        var ignored = selection.ignored
        let objects = try clock.run(.originalBuild) { () -> [String] in
            let built = try tree.buildConfigured(selection.objects, stage: .originalBuild)
            let unconfigured = selection.objects.filter { !built.contains($0) }
            ignored += unconfigured.map { "\($0) is not built in \(kernel.release)'s configuration (Kbuild has no rule for it)" }
            guard !built.isEmpty else { throw BuildError.nothingToPatch(ignored: ignored) }
            try copy(built, from: tree.dir, to: originals)
            return built
        }
        ignored.forEach { clock.note(.originalBuild, "ignored: " + $0) }
        try clock.run(.rebuild) {
            let backup = work.appendingPathComponent("backup")
            try copy(diff.touchedPaths, from: tree.dir, to: backup)
            defer { try? restore(diff.touchedPaths, from: backup, to: tree.dir) }
            try applier.apply(to: tree.dir, copyOf: tree.dir)
            try tree.build(objects, stage: .rebuild, authorInclude: AuthorHeaders.directory(template: request.templateDir))
            try copy(objects, from: tree.dir, to: patched)
        }
        clock.note(.rebuild, "rebuilt \(objects.joined(separator: ", "))")

        var pairs: [PatchAssembler.ObjectPair] = []
        var targets: [String: String?] = [:]
        for object in objects {
            let owner = try tree.owner(of: object)
            let symbols: URL
            switch owner {
            case .vmlinux:
                symbols = image.path
                targets["vmlinux"] = image.buildID
            case .module(let name):
                let ko = try moduleFile(name, kernel: kernel)
                symbols = ko
                targets[name] = try KernelModuleFile(path: ko.path).buildID
            }
            pairs.append(.init(object: object, original: originals.appendingPathComponent(object),
                               patched: patched.appendingPathComponent(object),
                               livepatchObject: owner.livepatchObjectName, targetSymbols: symbols))
        }
        let assembler = try PatchAssembler(kernel: kernel, kernelImage: image, templateDir: request.templateDir,
                                       patchName: patchName, work: work, clock: clock)
        let plans = try assembler.diff(pairs)
        let functions = plans.flatMap(\.replaced)
        let author = try assembler.authorAPI(plans)
        assembler.noteIgnored(plans)
        // vmlinux's graph comes from the debug vmlinux (cached by build id); an
        // in-tree module's from its debug build, when the -dbg package is there.
        var graphs: [String: () throws -> CallGraph] = [:]
        var resume: [String: KthreadResumeAnalysis] = [:]
        if targets.keys.contains("vmlinux") {
            let cacheDir = request.cache.root.appendingPathComponent("callgraph")
            graphs["vmlinux"] = { try CallGraphCache.graph(for: image.path.path, cacheDirectory: cacheDir) }
            resume["vmlinux"] = KthreadResumeAnalysis(vmlinux: image.path.path, cacheDirectory: cacheDir)
        }
        let debugModules = request.modulesDebugDir ?? URL(fileURLWithPath: "/usr/lib/debug/lib/modules/\(kernel.release)")
        for module in targets.keys where module != "vmlinux" {
            if let debug = findModule(module, in: debugModules) {
                graphs[module] = { try CallGraphBuilder.build(path: debug.path) }
            }
        }
        let analysis = try clock.run(.kthreadAnalysis) {
            try KthreadAnalysis.analyse(functions: functions, callbackCallees: author.callees, graphs: graphs, resume: resume)
        }
        for (object, points) in resume.sorted(by: { $0.key < $1.key }) {
            for failure in points.failures {
                clock.note(.kthreadAnalysis, "warning: \(object): where the kthread sleeps was not worked out for \(failure); its whole thread function counts")
            }
            do { try points.save() } catch {
                clock.note(.kthreadAnalysis, "warning: could not save the kthread resume-point cache: \(error)")
            }
        }
        for object in targets.keys.sorted() where graphs[object] == nil {
            clock.note(.kthreadAnalysis, "warning: \(object): no debug build in \(debugModules.path) (linux-image-\(kernel.release)-dbg, or --modules-debug-dir); the patch carries no kthread analysis for it")
        }
        analysis.warnings.forEach { clock.note(.kthreadAnalysis, "warning: " + $0) }
        let metadata = PatchMetadata(
            arch: "x86_64", kernelRelease: kernel.release, vermagic: vermagic,
            targets: targets.keys.sorted().map { .init(object: $0, buildID: targets[$0] ?? nil) },
            patchName: patchName, createdAt: UInt64(Date().timeIntervalSince1970), diffSHA256: diff.sha256,
            functions: functions, toolVersion: request.toolVersion, kthreadReachability: analysis.blobs,
            replace: request.replace, callbacks: author.callbacks, states: author.states)
        let linked = try assembler.link(plans, metadata: metadata)
        let output = request.output ?? URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("\(patchName).ko")
        let module = try assembler.verifyAndInstall(linked, vermagic: vermagic, output: output)
        var result = BuildResult(
            output: output.path, patchName: patchName, targetObject: Set(pairs.map(\.livepatchObject)).sorted().joined(separator: ","),
            targetBuildID: metadata.targets.count == 1 ? metadata.targets[0].buildID : nil, functions: functions,
            newSymbols: plans.flatMap(\.newSymbols).sorted(), livepatchSymbols: module.livepatchSymbols,
            rebuiltObjects: objects, originalBuildCached: true, kthreadWarnings: analysis.warnings,
            stages: clock.times, replace: request.replace, callbacks: author.callbacks, states: author.states,
            ignored: plans.flatMap(\.ignored), ignoredFiles: ignored)
        result.diff = DiffSummary(plans: plans)
        return result
    }

    /// Debian's source tarball for the release's major.minor (from the headers' Makefile).
    private func defaultSource(_ kernel: TargetKernel) throws -> URL {
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
    private func moduleFile(_ name: String, kernel: TargetKernel) throws -> URL {
        let dir = request.modulesDir ?? URL(fileURLWithPath: "/lib/modules/\(kernel.release)")
        guard let found = findModule(name, in: dir) else {
            throw BuildError.missingInput(what: "module \(name) of \(kernel.release) (pass --modules-dir)", path: dir.path)
        }
        return found
    }

    /// `<name>.ko` below `dir` (Kbuild names use `_`, files may use `-`).
    private func findModule(_ name: String, in dir: URL) -> URL? {
        let candidates: Set<String> = ["\(name).ko", "\(name.replacing("_", with: "-")).ko"]
        return (try? DirectoryWalk.entries(under: dir))?.first { candidates.contains($0.url.lastPathComponent) }?.url
    }

    private func copy(_ paths: [String], from: URL, to: URL) throws {
        let fm = FileManager.default
        for path in paths {
            let target = to.appendingPathComponent(path)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.removeItem(at: target)
            try fm.copyItem(at: from.appendingPathComponent(path), to: target)
        }
    }

    private func restore(_ paths: [String], from backup: URL, to tree: URL) throws {
        for path in paths {
            let target = tree.appendingPathComponent(path)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: backup.appendingPathComponent(path), to: target)
        }
    }
}
