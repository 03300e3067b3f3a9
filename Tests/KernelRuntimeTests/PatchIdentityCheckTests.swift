import XCTest
import TestSupport
@testable import KernelRuntime
@testable import PatchModel

/// The decision on fixture trees; the VM tests check it against the real /sys.
final class PatchIdentityCheckTests: XCTestCase {
    private func meta(release: String = "6.1.0-56-amd64", buildID: String?) -> PatchMetadata {
        PatchMetadata(arch: "x86_64", kernelRelease: release, vermagic: "\(release) SMP preempt mod_unload modversions ",
                      targets: [.init(object: "kpvictim", buildID: buildID)], patchName: "p", createdAt: 0,
                      diffSHA256: "", functions: [], toolVersion: "t")
    }

    /// A fixture /sys with kpvictim loaded, its note taken from a real module build.
    private func fixtureRoot() throws -> (root: URL, buildID: String) {
        let bed = TestBed.shared
        let dir = try KbuildModule().build("identity", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        let root = dir.appendingPathComponent("root")
        let notes = root.appendingPathComponent("sys/module/kpvictim/notes")
        try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
        try Data("live\n".utf8).write(to: root.appendingPathComponent("sys/module/kpvictim/initstate"))
        try runChecked(["objcopy", "-O", "binary", "--only-section=.note.gnu.build-id",
                        dir.appendingPathComponent("kpvictim.ko").path, notes.appendingPathComponent(".note.gnu.build-id").path])
        let id = try KernelModuleFile(path: dir.appendingPathComponent("kpvictim.ko").path).buildID!
        return (root, id)
    }

    func testMatchingPatchPasses() throws {
        let (root, id) = try fixtureRoot()
        let system = RunningKernelIdentity(release: "6.1.0-56-amd64", machine: "x86_64", vmlinuxBuildID: nil,
                                           vermagic: "6.1.0-56-amd64 SMP preempt mod_unload modversions ", root: root.path)
        XCTAssertEqual(system.moduleBuildID("kpvictim"), id)
        let result = PatchIdentityCheck.check(meta(buildID: id), against: system)
        XCTAssertEqual(result.mismatches, [])
        XCTAssertEqual(result.unchecked, [])
    }

    func testOtherReleaseAndOtherModuleBuildAreRefused() throws {
        let (root, id) = try fixtureRoot()
        let system = RunningKernelIdentity(release: "6.1.0-56-amd64", machine: "x86_64", vmlinuxBuildID: nil, root: root.path)
        let other = String(id.reversed())
        let result = PatchIdentityCheck.check(meta(release: "6.1.0-55-amd64", buildID: other), against: system)
        XCTAssertEqual(result.mismatches.map(\.kind), [.release, .vermagic, .moduleBuildID])
        XCTAssertEqual(result.mismatches.last?.actual, id)
        XCTAssertTrue(result.mismatches.last!.description.contains("kpvictim"))
    }

    func testTargetNotLoadedIsUncheckedNotRefused() throws {
        let system = RunningKernelIdentity(release: "6.1.0-56-amd64", machine: "x86_64", vmlinuxBuildID: nil, root: "/nonexistent")
        let result = PatchIdentityCheck.check(meta(buildID: "abcd"), against: system)
        XCTAssertEqual(result.mismatches, [])
        XCTAssertEqual(result.unchecked, [
            "vermagic beyond the release: no module of the running kernel under /lib/modules/6.1.0-56-amd64 to read it from",
            "kpvictim build id: not loaded (the kernel patches it when it loads)"])
    }

    func testWholeVermagicIsComparedAndMissingBuildIDIsReported() throws {
        // Same release, another preempt model: only the whole string tells them apart.
        let system = RunningKernelIdentity(release: "6.1.0-56-amd64", machine: "x86_64", vmlinuxBuildID: nil,
                                           vermagic: "6.1.0-56-amd64 SMP preempt_rt mod_unload modversions ", root: "/nonexistent")
        let result = PatchIdentityCheck.check(meta(buildID: nil), against: system)
        XCTAssertEqual(result.mismatches.map(\.kind), [.vermagic])
        XCTAssertEqual(result.mismatches.first?.actual, "6.1.0-56-amd64 SMP preempt_rt mod_unload modversions ")
        XCTAssertEqual(result.unchecked, ["kpvictim build id: the patch records none"])
    }

    func testRunningVermagicIsReadFromAModuleOfTheRelease() throws {
        let (root, _) = try fixtureRoot()
        let modules = root.appendingPathComponent("lib/modules/6.1.0-56-amd64/extra")
        try FileManager.default.createDirectory(at: modules, withIntermediateDirectories: true)
        let ko = root.deletingLastPathComponent().appendingPathComponent("kpvictim.ko")
        try FileManager.default.copyItem(at: ko, to: modules.appendingPathComponent("kpvictim.ko"))
        let expected = try KernelModuleFile(path: ko.path).vermagic
        XCTAssertNotNil(expected)
        XCTAssertEqual(RunningKernelIdentity.moduleVermagic(in: root.path + "/lib/modules/6.1.0-56-amd64"), expected)
    }

    /// Debian's 6.12 installs only `.ko.xz` modules: the vermagic is read from one of them.
    func testRunningVermagicIsReadFromACompressedModule() throws {
        let (root, _) = try fixtureRoot()
        let modules = root.appendingPathComponent("lib/modules/6.12.117+deb13-amd64/kernel/fs")
        try FileManager.default.createDirectory(at: modules, withIntermediateDirectories: true)
        let ko = root.deletingLastPathComponent().appendingPathComponent("kpvictim.ko")
        let installed = modules.appendingPathComponent("kpvictim.ko")
        try FileManager.default.copyItem(at: ko, to: installed)
        _ = try runChecked(["xz", installed.path])
        XCTAssertFalse(FileManager.default.fileExists(atPath: installed.path))
        let expected = try XCTUnwrap(try KernelModuleFile(path: ko.path).vermagic)
        XCTAssertEqual(RunningKernelIdentity.moduleVermagic(in: modules.deletingLastPathComponent().deletingLastPathComponent().path), expected)
    }
}
