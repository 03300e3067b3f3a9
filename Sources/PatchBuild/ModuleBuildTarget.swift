import FoundationEssentials
import KthreadSafety
import PatchModel

/// An out-of-tree module target: the diff is applied to a private copy of the
/// user's source directory (only ever read), the original build is cached by
/// source content, and only the objects the diff touches are rebuilt.
final class ModuleBuildTarget: BuildTargetStrategy {
    let options: ModuleTargetOptions
    private var patchedTree: ModuleTree?
    private var originalTree: ModuleTree?
    private var cached = false
    private var rebuilt: [String] = []
    private var moduleName = ""
    private var builtModule: URL?
    private var deployed: URL?

    init(_ options: ModuleTargetOptions) { self.options = options }

    func prepare(_ build: BuildContext) throws {
        if let deployed = options.deployedModule, !FileManager.default.fileExists(atPath: deployed.path) {
            throw BuildError.missingInput(what: "deployed module", path: deployed.path)
        }
    }

    /// A diff that does not apply costs nothing and leaves nothing behind.
    func applyDiff(_ build: BuildContext) throws {
        let tree = ModuleTree(dir: build.work.appendingPathComponent("patched"), kernel: build.kernel,
                              authorInclude: AuthorHeaders.directory(template: build.request.templateDir))
        try ModuleTree.copySources(from: options.moduleSource, to: tree.dir)
        try DiffApplier(diff: build.diff, diffFile: build.request.diffFile).apply(to: tree.dir, copyOf: options.moduleSource)
        patchedTree = tree
    }

    func buildOriginals(_ build: BuildContext) throws {
        let fm = FileManager.default
        let dir = try build.request.cache.originalModuleTree(sources: options.moduleSource, release: build.kernel.release,
                                                             toolVersion: build.request.toolVersion)
        let tree = ModuleTree(dir: dir, kernel: build.kernel)
        originalTree = tree
        // Beside the entry, so concurrent builds of the same sources fill it once.
        let lock = try TreeLock(path: dir.deletingLastPathComponent().appendingPathExtension("lock"))
        defer { lock.release() }
        // The stamp holds the path the tree was built at: Kbuild's `.mod` and `.cmd` files
        // name it, so a cache moved or copied elsewhere is built again, not misread.
        let stamp = dir.appendingPathComponent(".kpatchctl-complete")
        if fm.fileExists(atPath: stamp.path) {
            let builtAt = String(decoding: try Data(contentsOf: stamp), as: UTF8.self)
            if builtAt == dir.standardizedFileURL.path {
                cached = true
                build.clock.note(.originalBuild, "reused the cached original build in \(dir.path)")
                return
            }
            build.clock.note(.originalBuild, "the cached original build was made at \(builtAt.isEmpty ? "another path" : builtAt): building it again here")
        }
        if fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }  // unfinished, or built at another path
        try ModuleTree.copySources(from: options.moduleSource, to: dir)
        try tree.buildModules()
        try Data(dir.standardizedFileURL.path.utf8).write(to: stamp)
    }

    func buildPatched(_ build: BuildContext) throws -> [PatchAssembler.ObjectPair] {
        guard let originalTree, let patchedTree else { throw BuildError.verification("rebuild before the original build") }
        let modules = try originalTree.modules()
        let objects = try originalTree.objects(affectedBy: build.diff.touchedPaths, builtObjects: Set(modules.values.joined()))
        guard !objects.isEmpty else { throw BuildError.diffTouchesNothingBuilt(paths: build.diff.touchedPaths) }
        let direct = try patchedTree.buildObjects(objects, recordedIn: originalTree)
        build.clock.note(.rebuild, "rebuilt \(objects.joined(separator: ", "))\(direct ? " (Kbuild's recorded commands)" : "")")
        let owners = Set(objects.compactMap { object in modules.first { $0.value.contains(object) }?.key })
        guard owners.count == 1, let name = owners.first else {
            throw BuildError.verification("the diff touches objects of \(owners.count) modules (\(owners.sorted().joined(separator: ", "))): build one patch per module")
        }
        rebuilt = objects
        moduleName = name
        let built = originalTree.dir.appendingPathComponent("\(name).ko")
        builtModule = built
        deployed = options.deployedModule ?? {
            let inSource = options.moduleSource.appendingPathComponent("\(name).ko")
            return FileManager.default.fileExists(atPath: inSource.path) ? inSource : nil
        }()
        return objects.map {
            .init(object: $0, original: originalTree.dir.appendingPathComponent($0),
                  patched: patchedTree.dir.appendingPathComponent($0), livepatchObject: name,
                  targetSymbols: deployed ?? built)
        }
    }

    /// The deployed module's build id; the vermagic of the original build.
    func identity(_ build: BuildContext) throws -> (targets: [PatchMetadata.Target], vermagic: String?) {
        guard let builtModule else { throw BuildError.verification("identity before the rebuild") }
        let original = try KernelModuleFile(path: builtModule.path)
        return ([.init(object: moduleName, buildID: try deployed.flatMap { try KernelModuleFile(path: $0.path).buildID })],
                original.vermagic)
    }

    /// The original build has full DWARF.
    func kthreadSources(_ build: BuildContext) -> KthreadSources {
        guard let builtModule else { return KthreadSources() }
        return KthreadSources(graphs: [moduleName: { try CallGraphBuilder.build(path: builtModule.path) }],
                              code: [moduleName: { try DataAccessReader(path: builtModule.path) }])
    }

    var outcome: (rebuilt: [String], originalBuildCached: Bool, ignoredFiles: [String]) { (rebuilt, cached, []) }
}
