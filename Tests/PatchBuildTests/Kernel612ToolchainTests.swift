import XCTest
import TestSupport
import PatchModel
@testable import PatchBuild

/// kpvictim's fix built by the pipeline alone (no PATH shims) for Debian's two 6.12 kernels
/// from the packages in the test bed (scripts/setup --kernel-6.12): trixie's through the
/// build root (gcc-14, which this Debian 12 host lacks), bookworm-backports' with the host's
/// gcc-12. The toolchain is in the result and in the patch's metadata. And `build --deb`
/// for the pinned 6.1 and 6.12.95 in one command (a class of the 6.12 gate: scripts/test
/// starts it once scripts/setup --kernel-6.12 is done).
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

    /// `build --deb` for two releases in one command: the pinned 6.1 and bookworm-backports'
    /// 6.12.95 (host gcc-12; its headers and debug vmlinux from scripts/setup --kernel-6.12):
    /// one package per release, each depending on its own linux-image and carrying that
    /// release's module, byte for byte.
    func testDebPackagesEachRelease() throws {
        let bed = TestBed.shared
        let other = "6.12.95+deb12-amd64"
        guard let kernel = DebianKernelRelease(other), KernelPackageStore(root: bed.cache).has(.headers, kernel),
              KernelPackageStore(root: bed.cache).has(.debug, kernel) else {
            throw XCTSkip("no \(other) headers and debug vmlinux in \(bed.cache.path) (scripts/setup --kernel-6.12)")
        }
        let work = try bed.scratch("multi-release-deb")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        let out = work.appendingPathComponent("out")
        let vmlinux = bed.debugVmlinux.path.replacingOccurrences(of: bed.kernelRelease, with: "{release}")
        let result = try KpatchctlBinary().run([
            "build", bed.root.appendingPathComponent("examples/kpvictim/fix.diff").path, "--module-src", victim.path,
            "--kernel", bed.kernelRelease, "--kernel", other, "--vmlinux", vmlinux, "--packages", bed.cache.path,
            "--cache", work.appendingPathComponent("cache").path, "--name", "livepatch_fix", "--cve", "CVE-2099-0001",
            "--deb", "--maintainer", "kpatchctl tests <tests@example.org>", "-o", out.path])
        XCTAssertEqual(result.status, 0, result.output)
        for release in [bed.kernelRelease, other] {
            let deb = out.appendingPathComponent("kpatch-livepatch-fix-\(release)_1_amd64.deb")
            XCTAssertTrue(result.output.contains("package: \(deb.path) (kpatch-livepatch-fix-\(release) 1)"), result.output)
            let fields = try runChecked(["dpkg-deb", "-f", deb.path, "Package", "Depends"])
            XCTAssertTrue(fields.contains("Package: kpatch-livepatch-fix-\(release)\n"), fields)
            XCTAssertTrue(fields.contains(", linux-image-\(release)\n"), fields)
            let unpacked = work.appendingPathComponent("unpacked-\(release)")
            try runChecked(["dpkg-deb", "-x", deb.path, unpacked.path])
            let packaged = unpacked.appendingPathComponent("usr/lib/kpatchctl/packages/\(release)/livepatch_fix.ko")
            XCTAssertEqual(try Data(contentsOf: packaged), try Data(contentsOf: out.appendingPathComponent("livepatch_fix-\(release).ko")), release)
            XCTAssertTrue(try KpatchctlBinary().run(["info", packaged.path]).output.contains("kernel:         \(release)"), release)
        }
    }
}
