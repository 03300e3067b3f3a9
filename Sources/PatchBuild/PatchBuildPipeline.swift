import FoundationEssentials
import KthreadSafety
import PatchModel

/// `kpatchctl build`, for every kind of target: prepare, patch, original-build and
/// rebuild through the target's strategy (`ModuleBuildTarget`, `KernelBuildTarget`),
/// then the stages all targets share: diff, kthread analysis, link, verify.
public final class PatchBuildPipeline {
    let request: BuildRequest
    let clock: StageClock

    public init(request: BuildRequest, progress: @escaping (BuildEvent) -> Void = { _ in }) {
        self.request = request
        self.clock = StageClock(progress: progress)
    }

    public func build() throws -> BuildResult {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("kpatchctl-build-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: work) }
        let target: BuildTargetStrategy
        switch request.target {
        case .module(let options): target = ModuleBuildTarget(options)
        case .kernel(let options): target = KernelBuildTarget(options)
        }

        let build = try clock.run(.prepare) { () -> BuildContext in
            let diff = try request.diff ?? SourceDiff.read(request.diffFile)
            let note = { (text: String) in self.clock.note(.prepare, text) }
            let store = request.packageStore
            // What a build root must see at the same paths: the caches, this build's directory, the template.
            try request.signing?.checkInputs()
            let binds = [request.cache.root, store.root, fm.temporaryDirectory, request.templateDir] + (request.signing?.binds ?? [])
            let kernel = try TargetKernel.locate(release: request.kernelRelease, headers: request.headers, store: store,
                                                 binds: binds, note: note)
            note("toolchain: \(kernel.toolchain.description)")
            let image = try TargetKernelImage.locate(release: kernel.release, explicit: request.vmlinux, store: store, note: note)
            let name = try BuildRequest.checkedPatchName(request.patchName, diff: request.diffFile)
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            let build = BuildContext(request: request, diff: diff, kernel: kernel, image: image, patchName: name,
                                     work: work, clock: clock)
            try target.prepare(build)
            return build
        }
        try clock.run(.patch) { try target.applyDiff(build) }
        try clock.run(.originalBuild) { try target.buildOriginals(build) }
        let pairs = try clock.run(.rebuild) { try target.buildPatched(build) }
        let (targets, vermagic) = try target.identity(build)

        let assembler = try PatchAssembler(kernel: build.kernel, kernelImage: build.image, templateDir: request.templateDir,
                                           patchName: build.patchName, work: work, clock: clock, cache: request.cache)
        let diffed = try assembler.diff(pairs)
        let plans = diffed.map(\.plan)
        let functions = plans.flatMap(\.replaced)
        guard functions.count <= request.maxFunctions else {
            throw BuildError.tooManyFunctions(count: functions.count, limit: request.maxFunctions,
                                              first: functions.map { "\($0.object): \($0.name)" })
        }
        let author = try assembler.authorAPI(plans)
        assembler.noteIgnored(plans)
        let sources = target.kthreadSources(build)
        let analysis = try clock.run(.kthreadAnalysis) {
            try KthreadAnalysis.analyse(functions: functions, callbackCallees: author.callees, graphs: sources.graphs,
                                        resume: sources.resume, code: sources.code)
        }
        for (object, points) in sources.resume.sorted(by: { $0.key < $1.key }) {
            for failure in points.failures {
                clock.note(.kthreadAnalysis, "warning: \(object): where the kthread sleeps was not worked out for \(failure); its whole thread function counts")
            }
            do { try points.save() } catch {
                clock.note(.kthreadAnalysis, "warning: could not save the kthread resume-point cache: \(error)")
            }
        }
        sources.missing.forEach { clock.note(.kthreadAnalysis, "warning: " + $0) }
        analysis.warnings.forEach { clock.note(.kthreadAnalysis, "warning: " + $0) }

        let metadata = PatchMetadata(
            arch: "x86_64", kernelRelease: build.kernel.release, vermagic: vermagic ?? "", targets: targets,
            patchName: build.patchName, createdAt: UInt64(Date().timeIntervalSince1970), diffSHA256: build.diff.sha256,
            functions: functions, toolVersion: request.toolVersion, kthreadReachability: analysis.blobs,
            replace: request.replace, callbacks: author.callbacks, states: author.states,
            toolchain: build.kernel.toolchain.description, operations: request.operations)
        let (linked, linker) = try assembler.link(diffed, metadata: metadata, with: request.linker)
        let output = request.output ?? URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("\(build.patchName).ko")
        var signature: ModuleSignature?
        let (module, exported) = try assembler.verifyAndInstall(linked, vermagic: vermagic, output: output, sign: request.signing.map { signing in
            { ko in signature = try signing.sign(ko, kernel: build.kernel) }
        })
        let outcome = target.outcome
        var result = BuildResult(
            output: output.path, patchName: build.patchName,
            targetObject: Set(pairs.map(\.livepatchObject)).sorted().joined(separator: ","),
            targetBuildID: targets.count == 1 ? targets[0].buildID : nil, functions: functions,
            newSymbols: plans.flatMap(\.newSymbols).sorted(), livepatchSymbols: module.livepatchSymbols,
            rebuiltObjects: outcome.rebuilt, originalBuildCached: outcome.originalBuildCached,
            kthreadWarnings: analysis.warnings, stages: clock.times, replace: request.replace,
            callbacks: author.callbacks, states: author.states, ignored: plans.flatMap(\.ignored),
            ignoredFiles: outcome.ignoredFiles, toolchain: build.kernel.toolchain.description)
        result.diff = DiffSummary(plans: plans)
        result.operations = request.operations
        if !exported.isEmpty {
            result.exports = exported
            result.moduleSymvers = PatchAssembler.symversFile(for: output).path
        }
        result.signature = signature
        result.linker = linker
        return result
    }
}
