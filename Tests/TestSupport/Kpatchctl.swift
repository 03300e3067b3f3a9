import Foundation

/// The release kpatchctl binary (the one the VM runs too), on the host.
public struct KpatchctlBinary {
    public let bed: TestBed
    public init(bed: TestBed = .shared) { self.bed = bed }

    public func run(_ arguments: [String], in dir: URL? = nil) throws -> CommandResult {
        try runCommand([bed.releaseBinary.path] + arguments, in: dir)
    }

    /// `kpatchctl build DIFF` for the pinned kernel itself, with the test bed's
    /// debug vmlinux, its modules and the prepared kernel tree shared by every test
    /// (`.testbed/build-cache`).
    public func buildKernelPatch(diff: URL, output: URL, extra: [String] = []) throws -> CommandResult {
        try run(["build", diff.path, "--kernel", bed.kernelRelease, "--vmlinux", bed.debugVmlinux.path,
                 "--modules-dir", bed.modulesDir.path, "--modules-debug-dir", bed.modulesDebugDir.path, "--cache", bed.buildCache.path, "-o", output.path] + extra)
    }

    /// `kpatchctl build DIFF --module-src DIR` for the pinned kernel, with the test
    /// bed's debug vmlinux and a cache under `cache`.
    public func buildModulePatch(diff: URL, moduleSource: URL, output: URL, cache: URL,
                                 extra: [String] = []) throws -> CommandResult {
        try run(["build", diff.path, "--module-src", moduleSource.path, "--kernel", bed.kernelRelease,
                 "--vmlinux", bed.debugVmlinux.path, "--cache", cache.path, "-o", output.path] + extra)
    }
}
