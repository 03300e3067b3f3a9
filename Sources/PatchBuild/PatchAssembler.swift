import FoundationEssentials
import PatchCore

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
    /// vmlinux's exports (the target's Module.symvers), read once for diff and verify.
    let exports: ModuleSymvers

    init(kernel: TargetKernel, kernelImage: TargetKernelImage, templateDir: URL, patchName: String,
         work: URL, clock: StageClock) throws {
        self.kernel = kernel
        self.kernelImage = kernelImage
        self.templateDir = templateDir
        self.patchName = patchName
        self.work = work
        self.clock = clock
        exports = try ModuleSymvers(contentsOf: kernel.moduleSymvers)
    }

    /// Diffs every pair; refusals of all objects are reported together.
    func diff(_ pairs: [ObjectPair]) throws -> [PatchPlan] {
        try clock.run(.diff) {
            let layout = try kernelImage.specialSectionLayout()
            let vmlinux = try kernelImage.symbols()
            var plans: [PatchPlan] = []
            var refusals: [Refusal] = []
            for pair in pairs {
                let target = pair.livepatchObject == "vmlinux" ? vmlinux
                    : try TargetSymbols(object: ELFObject(url: pair.targetSymbols), objectName: pair.livepatchObject)
                let differ = ObjectDiffer(objectName: pair.livepatchObject, target: target, vmlinux: vmlinux,
                                          exports: exports, layout: layout)
                let output = work.appendingPathComponent("diff/\(plans.count)-\(pair.patched.lastPathComponent)")
                try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
                switch try differ.diff(original: pair.original, patched: pair.patched, output: output) {
                case .noChange: clock.note(.diff, "\(pair.object): no function changed")
                case .changed(let plan): plans.append(plan)
                case .refused(let r): refusals += r
                }
            }
            guard refusals.isEmpty else { throw BuildError.refused(refusals) }
            guard !plans.isEmpty else { throw BuildError.noChange }
            return plans
        }
    }

    /// Links the patch module and returns it with the klp relocations in place.
    func link(_ plans: [PatchPlan], metadata: PatchMetadata) throws -> URL {
        try clock.run(.link) {
            let dir = work.appendingPathComponent("link")
            try PatchModuleSources(name: patchName, templateDir: templateDir, metadata: metadata,
                                   patchObjects: plans.compactMap(\.patchObject)).write(to: dir)
            try CommandRunner.check(.link, ["make", "-s", "-C", kernel.headers.path, "M=\(dir.path)", "modules"])
            let ko = dir.appendingPathComponent("\(patchName).ko")
            try KlpPostLink().run(module: ko)
            return ko
        }
    }

    /// Verifies the linked module and copies it to `output`.
    func verifyAndInstall(_ ko: URL, vermagic: String?, output: URL) throws -> KernelModuleFile {
        try clock.run(.verify) {
            let module = try PatchModuleVerifier(exports: exports, vermagic: vermagic).verify(ko, patchName: patchName)
            let fm = FileManager.default
            try? fm.removeItem(at: output)
            try fm.copyItem(at: ko, to: output)
            return module
        }
    }
}
