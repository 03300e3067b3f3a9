import FoundationEssentials
import KthreadSafety
import PatchModel

/// What every stage of one build sees: the request and what the prepare stage found.
struct BuildContext {
    let request: BuildRequest
    let diff: SourceDiff
    let kernel: TargetKernel
    let image: TargetKernelImage
    let patchName: String
    /// The build's private directory, removed when it ends.
    let work: URL
    let clock: StageClock
}

/// The stages in which one kind of target (an out-of-tree module, the kernel) differs
/// from another. `PatchBuildPipeline` runs them, in this order, between the stages
/// every target shares (diff, kthread analysis, link, verify).
protocol BuildTargetStrategy: AnyObject {
    /// prepare: what this kind needs before the diff is applied.
    func prepare(_ build: BuildContext) throws
    /// patch: the diff applied to private copies; decides which objects to rebuild.
    func applyDiff(_ build: BuildContext) throws
    /// original-build: the unpatched objects.
    func buildOriginals(_ build: BuildContext) throws
    /// rebuild: the patched objects, each paired with its original.
    func buildPatched(_ build: BuildContext) throws -> [PatchAssembler.ObjectPair]
    /// The running objects the patch is for (with their build ids), and the vermagic
    /// the patch module must carry.
    func identity(_ build: BuildContext) throws -> (targets: [PatchMetadata.Target], vermagic: String?)
    /// Where the DWARF call graph of each patched livepatch object comes from.
    func kthreadSources(_ build: BuildContext) -> KthreadSources
    /// For the result: the objects rebuilt, whether the original build was reused,
    /// and the touched files left out (each with why).
    var outcome: (rebuilt: [String], originalBuildCached: Bool, ignoredFiles: [String]) { get }
}

/// The call graphs the kthread analysis reads, per livepatch object.
struct KthreadSources {
    var graphs: [String: () throws -> CallGraph] = [:]
    /// The machine code of the same files, for the data the analysis compares.
    var code: [String: () throws -> DataAccessReader] = [:]
    /// Where vmlinux's kthreads sleep, for the unconverted ones that reach a target.
    var resume: [String: KthreadResumeAnalysis] = [:]
    /// One warning per object that has no call graph (and so no kthread analysis).
    var missing: [String] = []
}
