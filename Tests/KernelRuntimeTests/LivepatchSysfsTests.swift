import Foundation
import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// The sysfs parser on a fixture tree laid out as 6.1 lays out /sys/kernel/livepatch.
final class LivepatchSysfsTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("klp-\(UUID().uuidString)")
        try make("livepatch_wait/enabled", "1\n")
        try make("livepatch_wait/transition", "1\n")
        try make("livepatch_wait/kpvictim/patched", "1\n")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("livepatch_wait/kpvictim/kpvictim_wait_show,0"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("livepatch_wait/kpvictim/kpvictim_sum.constprop.0,2"),
                                                withIntermediateDirectories: true)
        try make("livepatch_wait/vmlinux/patched", "1\n")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("livepatch_wait/vmlinux/cmdline_proc_show,0"),
                                                withIntermediateDirectories: true)
        try make("livepatch_old/enabled", "0\n")
        try make("livepatch_old/transition", "0\n")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func make(_ path: String, _ text: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// 6.11+ shows `replace`; 6.1 has no such file: nil, not false.
    func testReplaceAttributeWhereTheKernelHasIt() throws {
        try make("livepatch_old/replace", "1\n")
        let sysfs = LivepatchSysfs(root: root.path)
        XCTAssertEqual(try sysfs.patch(named: "livepatch_old")?.replace, true)
        XCTAssertNil(try sysfs.patch(named: "livepatch_wait")?.replace)
        try make("livepatch_wait/replace", "0\n")
        XCTAssertEqual(try sysfs.patch(named: "livepatch_wait")?.replace, false)
    }

    func testParsesPatchesObjectsAndFunctions() throws {
        let sysfs = LivepatchSysfs(root: root.path)
        XCTAssertEqual(try sysfs.patchNames(), ["livepatch_old", "livepatch_wait"])
        let patch = try XCTUnwrap(try sysfs.patch(named: "livepatch_wait"))
        XCTAssertTrue(patch.enabled)
        XCTAssertTrue(patch.transition)
        XCTAssertEqual(patch.direction, .patching)
        XCTAssertEqual(patch.objects.map(\.name), ["kpvictim", "vmlinux"])
        XCTAssertEqual(patch.objects[0].functions, [LivepatchFunction(name: "kpvictim_sum.constprop.0", sympos: 2),
                                                    LivepatchFunction(name: "kpvictim_wait_show", sympos: 0)])
        XCTAssertEqual(patch.functionNames, ["kpvictim_sum.constprop.0", "kpvictim_wait_show", "cmdline_proc_show"])
        XCTAssertEqual(try sysfs.transitioningPatch()?.name, "livepatch_wait")
        let old = try XCTUnwrap(try sysfs.patch(named: "livepatch_old"))
        XCTAssertNil(old.direction)
    }

    func testVanishedPatchIsNilNotAnError() throws {
        XCTAssertNil(try LivepatchSysfs(root: root.path).patch(named: "gone"))
    }

    func testUnpatchingDirection() throws {
        try make("livepatch_wait/enabled", "0\n")
        XCTAssertEqual(try LivepatchSysfs(root: root.path).patch(named: "livepatch_wait")?.direction, .unpatching)
    }

    func testBadValueIsATypedError() throws {
        try make("livepatch_wait/enabled", "maybe\n")
        XCTAssertThrowsError(try LivepatchSysfs(root: root.path).patch(named: "livepatch_wait")) { error in
            XCTAssertTrue("\(error)".contains("maybe"), "\(error)")
        }
    }

    func testMissingRootSaysNoLivepatch() {
        XCTAssertThrowsError(try LivepatchSysfs(root: root.path + "/nope").patchNames()) { error in
            XCTAssertTrue("\(error)".contains("CONFIG_LIVEPATCH"), "\(error)")
        }
    }

    func testFunctionDirectoryNames() {
        XCTAssertEqual(LivepatchFunction(directoryName: "a,b,c,3"), LivepatchFunction(name: "a,b,c", sympos: 3))
        XCTAssertNil(LivepatchFunction(directoryName: "no_sympos"))
        XCTAssertNil(LivepatchFunction(directoryName: ",1"))
        XCTAssertNil(LivepatchFunction(directoryName: "f,-1"))
    }

    func testPatchStateValues() {
        XCTAssertEqual(PatchState(text: "-1\n"), .idle)
        XCTAssertEqual(PatchState(text: "0\n"), .unpatched)
        XCTAssertEqual(PatchState(text: "1"), .patched)
        XCTAssertNil(PatchState(text: "2\n"))
    }
}
