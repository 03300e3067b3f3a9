import XCTest
import TestSupport
import PatchModel
@testable import PatchBuild

/// kpvictim's fix built by the pipeline alone (no PATH shims) for Debian's two 6.12 kernels
/// from the packages in the test bed (scripts/setup --kernel-6.12): trixie's through the
/// build root (gcc-14, which this Debian 12 host lacks), bookworm-backports' with the host's
/// gcc-12. The toolchain is in the result and in the patch's metadata.
final class Kernel612ToolchainTests: XCTestCase {
    private func build(release: String) throws -> (BuildResult, PatchMetadata, String) {
        let bed = TestBed.shared
        let store = KernelPackageStore(root: bed.cache)
        guard let kernel = DebianKernelRelease(release), store.has(.headers, kernel), store.has(.debug, kernel) else {
            throw XCTSkip("no \(release) headers and debug vmlinux in \(bed.cache.path) (scripts/setup --kernel-6.12)")
        }
        let work = try bed.scratch("k612-toolchain")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        var request = BuildRequest(
            target: .module(ModuleTargetOptions(moduleSource: victim)), diffFile: victim.appendingPathComponent("fix.diff"),
            kernelRelease: release, output: work.appendingPathComponent("fix.ko"),
            cache: BuildCache(root: work.appendingPathComponent("cache")), templateDir: bed.root.appendingPathComponent("kmod"),
            toolVersion: "test")
        request.packages = bed.cache
        let result = try PatchBuildPipeline(request: request).build()
        let module = try KernelModuleFile(path: result.output)
        return (result, try module.patchMetadata(), module.vermagic ?? "")
    }

    func testTrixieBuildsInTheBuildRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("the build root needs root (chroot); CI runs as root") }
        let root = TestBed.shared.cache.appendingPathComponent("buildroot/trixie/.kpatch-buildroot")
        guard FileManager.default.fileExists(atPath: root.path) else {
            throw XCTSkip("no trixie build root in the test bed (scripts/setup --kernel-6.12)")
        }
        let release = try TestBed(pin: TestBed.pin612).kernelRelease
        let (result, metadata, vermagic) = try build(release: release)
        XCTAssertTrue(result.toolchain.hasPrefix("build root trixie ("), result.toolchain)
        XCTAssertTrue(result.toolchain.hasSuffix("x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"), result.toolchain)
        XCTAssertEqual(metadata.toolchain, result.toolchain)
        XCTAssertTrue(vermagic.hasPrefix("\(release) SMP preempt mod_unload modversions"), vermagic)
        XCTAssertTrue(result.functions.contains { $0.name.hasPrefix("kpvictim_sum") }, "\(result.functions.map(\.name))")
    }

    func testBookwormBackportsBuildsWithTheHostCompiler() throws {
        let release = try TestBed(pin: TestBed.pin612bpo).kernelRelease
        let (result, metadata, vermagic) = try build(release: release)
        XCTAssertEqual(result.toolchain, "host x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0")
        XCTAssertEqual(metadata.toolchain, result.toolchain)
        XCTAssertTrue(vermagic.hasPrefix("\(release) SMP preempt mod_unload modversions"), vermagic)
    }
}
