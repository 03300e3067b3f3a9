import FoundationEssentials
import PatchCore

/// `kpatchctl build` for an out-of-tree module: prepare, patch a private copy,
/// original build (cached), rebuild only the touched objects, then the shared
/// diff, link and verify stages. The user's tree is only read.
public final class ModulePatchBuilder {
    let request: ModuleBuildRequest
    let clock: StageClock

    public init(request: ModuleBuildRequest, progress: @escaping (BuildEvent) -> Void = { _ in }) {
        self.request = request
        self.clock = StageClock(progress: progress)
    }

    public func build() throws -> BuildResult {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("kpatchctl-build-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: work) }

        let (diff, kernel, image, patchName) = try clock.run(.prepare) { () -> (SourceDiff, TargetKernel, TargetKernelImage, String) in
            let diff = try SourceDiff.read(request.diffFile)
            let kernel = try TargetKernel.locate(release: request.kernelRelease, headers: request.headers)
            try kernel.checkModuleCompiler()
            let image = try TargetKernelImage.locate(release: kernel.release, explicit: request.vmlinux)
            let name = try ModuleBuildRequest.checkedPatchName(request.patchName, diff: request.diffFile)
            if let deployed = request.deployedModule, !fm.fileExists(atPath: deployed.path) {
                throw BuildError.missingInput(what: "deployed module", path: deployed.path)
            }
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            return (diff, kernel, image, name)
        }

        // The diff is applied to a private copy first: one that does not apply
        // costs nothing and leaves nothing behind.
        let patchedTree = ModuleTree(dir: work.appendingPathComponent("patched"), kernel: kernel,
                                     authorInclude: AuthorHeaders.directory(template: request.templateDir))
        try clock.run(.patch) {
            try ModuleTree.copySources(from: request.moduleSource, to: patchedTree.dir)
            try DiffApplier(diff: diff, diffFile: request.diffFile).apply(to: patchedTree.dir, copyOf: request.moduleSource)
        }

        var cached = false
        let originalTree = try clock.run(.originalBuild) { () -> ModuleTree in
            let dir = try request.cache.originalModuleTree(sources: request.moduleSource, release: kernel.release,
                                                           toolVersion: request.toolVersion)
            let tree = ModuleTree(dir: dir, kernel: kernel)
            let stamp = dir.appendingPathComponent(".kpatchctl-complete")
            if fm.fileExists(atPath: stamp.path) {
                cached = true
                return tree
            }
            try? fm.removeItem(at: dir)
            try ModuleTree.copySources(from: request.moduleSource, to: dir)
            try tree.buildModules()
            _ = fm.createFile(atPath: stamp.path, contents: nil)
            return tree
        }
        if cached { clock.note(.originalBuild, "reused the cached original build in \(originalTree.dir.path)") }

        let modules = try originalTree.modules()
        let rebuilt = try clock.run(.rebuild) { () -> [String] in
            let objects = try originalTree.objects(affectedBy: diff.touchedPaths, builtObjects: Set(modules.values.joined()))
            guard !objects.isEmpty else { throw BuildError.diffTouchesNothingBuilt(paths: diff.touchedPaths) }
            try patchedTree.buildObjects(objects)
            return objects
        }
        clock.note(.rebuild, "rebuilt \(rebuilt.joined(separator: ", "))")
        let owners = Set(rebuilt.compactMap { object in modules.first { $0.value.contains(object) }?.key })
        guard owners.count == 1, let moduleName = owners.first else {
            throw BuildError.verification("the diff touches objects of \(owners.count) modules (\(owners.sorted().joined(separator: ", "))): build one patch per module")
        }
        let builtModule = originalTree.dir.appendingPathComponent("\(moduleName).ko")
        let deployed = request.deployedModule ?? {
            let inSource = request.moduleSource.appendingPathComponent("\(moduleName).ko")
            return fm.fileExists(atPath: inSource.path) ? inSource : nil
        }()
        let original = try KernelModuleFile(path: builtModule.path)

        let assembler = try PatchAssembler(kernel: kernel, kernelImage: image, templateDir: request.templateDir,
                                       patchName: patchName, work: work, clock: clock)
        let plans = try assembler.diff(rebuilt.map {
            .init(object: $0, original: originalTree.dir.appendingPathComponent($0),
                  patched: patchedTree.dir.appendingPathComponent($0), livepatchObject: moduleName,
                  targetSymbols: deployed ?? builtModule)
        })
        let functions = plans.flatMap(\.replaced)
        let author = try assembler.authorAPI(plans)
        assembler.noteIgnored(plans)
        // The call graph of the running code: the original build has full DWARF.
        let analysis = try clock.run(.kthreadAnalysis) {
            try KthreadAnalysis.analyse(functions: functions, callbackCallees: author.callees, graphs: [moduleName: { try CallGraphBuilder.build(path: builtModule.path) }])
        }
        analysis.warnings.forEach { clock.note(.kthreadAnalysis, "warning: " + $0) }
        let metadata = PatchMetadata(
            arch: "x86_64", kernelRelease: kernel.release, vermagic: original.vermagic ?? "",
            targets: [.init(object: moduleName, buildID: try deployed.flatMap { try KernelModuleFile(path: $0.path).buildID })],
            patchName: patchName, createdAt: UInt64(Date().timeIntervalSince1970), diffSHA256: diff.sha256,
            functions: functions, toolVersion: request.toolVersion, kthreadReachability: analysis.blobs,
            replace: request.replace, callbacks: author.callbacks, states: author.states)
        let linked = try assembler.link(plans, metadata: metadata)
        let output = request.output ?? URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("\(patchName).ko")
        let module = try assembler.verifyAndInstall(linked, vermagic: original.vermagic, output: output)
        var result = BuildResult(
            output: output.path, patchName: patchName, targetObject: moduleName,
            targetBuildID: metadata.targets.first?.buildID, functions: functions,
            newSymbols: plans.flatMap(\.newSymbols).sorted(), livepatchSymbols: module.livepatchSymbols,
            rebuiltObjects: rebuilt, originalBuildCached: cached, kthreadWarnings: analysis.warnings,
            stages: clock.times, replace: request.replace, callbacks: author.callbacks, states: author.states,
            ignored: plans.flatMap(\.ignored))
        result.diff = DiffSummary(plans: plans)
        return result
    }
}
