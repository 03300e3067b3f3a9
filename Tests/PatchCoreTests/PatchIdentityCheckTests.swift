import XCTest
import TestSupport
@testable import PatchCore

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
        let system = RunningKernelIdentity(release: "6.1.0-56-amd64", machine: "x86_64", vmlinuxBuildID: nil, root: root.path)
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
        XCTAssertEqual(result.unchecked, ["kpvictim"])
    }
}
