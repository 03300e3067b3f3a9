import Foundation

/// The release kpatchctl binary (the one the VM runs too), on the host.
public struct KpatchctlBinary {
    public let bed: TestBed
    public init(bed: TestBed = .shared) { self.bed = bed }

    /// Runs the binary (which runs its Kbuild calls in the kernel's own toolchain itself).
    public func run(_ arguments: [String], in dir: URL? = nil) throws -> CommandResult {
        try runCommand([bed.releaseBinary.path] + arguments, in: dir)
    }

    /// What a build needs besides the release to find a kernel the host has no packages of:
    /// its headers and source from the test bed, whose build root (scripts/setup made it) is the
    /// package directory's: without `--packages` kpatchctl would make a second one in the cache.
    private var kernelInputs: [String] {
        bed.isHostKernel ? [] : ["--kernel-headers", bed.headers.path, "--source", bed.sourceTarball.path, "--packages", bed.cache.path]
    }

    /// `kpatchctl build DIFF` for the pinned kernel itself, with the test bed's
    /// debug vmlinux, its modules and the prepared kernel tree shared by every test
    /// (`.testbed/build-cache`).
    public func buildKernelPatch(diff: URL, output: URL, extra: [String] = []) throws -> CommandResult {
        try run(["build", diff.path, "--kernel", bed.kernelRelease, "--vmlinux", bed.debugVmlinux.path] + kernelInputs + [
                 "--modules-dir", bed.modulesDir.path, "--modules-debug-dir", bed.modulesDebugDir.path, "--cache", bed.buildCache.path, "-o", output.path] + extra)
    }

    /// `kpatchctl build DIFF --module-src DIR` for the pinned kernel, with the test
    /// bed's debug vmlinux and a cache under `cache`.
    /// examples/kpvictim/fix.diff against the kpvictim build `victim`, written as
    /// `<name>-<release>.ko` in `work` with the cache `work/cache` (the packaging tests' patches).
    public func buildKpvictimFix(_ name: String, victim: URL, in work: URL, extra: [String]) throws -> (ko: URL, result: CommandResult) {
        let ko = work.appendingPathComponent("\(name)-\(bed.kernelRelease).ko")
        let result = try buildModulePatch(diff: bed.root.appendingPathComponent("examples/kpvictim/fix.diff"), moduleSource: victim,
                                          output: ko, cache: work.appendingPathComponent("cache"), extra: ["--name", name] + extra)
        return (ko, result)
    }

    public func buildModulePatch(diff: URL, moduleSource: URL, output: URL, cache: URL,
                                 extra: [String] = []) throws -> CommandResult {
        try run(["build", diff.path, "--module-src", moduleSource.path, "--kernel", bed.kernelRelease] + kernelInputs + [
                 "--vmlinux", bed.debugVmlinux.path, "--cache", cache.path, "-o", output.path] + extra)
    }
}
