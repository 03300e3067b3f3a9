import Foundation
import XCTest
import TestSupport
@testable import KernelRuntime
import KthreadSafety
import PatchModel

/// Preflight checks fail closed (issue 18): a check that cannot read what it
/// checks refuses and names what it could not read. Fixture trees stand in for
/// /sys/kernel/livepatch and /proc; a directory where a file is expected gives
/// EISDIR, a read error even root gets.
final class FailClosedPreflightTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("failclosed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func make(_ path: String, _ text: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    private func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(at: root.appendingPathComponent(path), withIntermediateDirectories: true)
    }

    /// A livepatch sysfs whose patch `livepatch_bad` has an `enabled` that cannot be read.
    private func unreadableSysfs() throws -> LivepatchSysfs {
        try make("klp/livepatch_ok/enabled", "1\n")
        try make("klp/livepatch_ok/transition", "0\n")
        try makeDirectory("klp/livepatch_bad/enabled")
        try make("klp/livepatch_bad/transition", "0\n")
        return LivepatchSysfs(root: root.appendingPathComponent("klp").path)
    }

    /// Any relocatable object will do as the module: these checks read sysfs, not the module.
    private func context(sysfs: LivepatchSysfs) throws -> PreflightContext {
        let source = root.appendingPathComponent("m.c"), object = root.appendingPathComponent("m.o")
        try "int kpatch_failclosed;\n".write(to: source, atomically: true, encoding: .utf8)
        try runChecked(["gcc", "-c", source.path, "-o", object.path])
        return PreflightContext(modulePath: object.path, module: try KernelModuleFile(path: object.path), sysfs: sysfs)
    }

    private func metadata(states: [SystemState] = [], replace: Bool = false) -> PatchMetadata {
        var meta = PatchMetadata(arch: "x86_64", kernelRelease: "6.1.0-56-amd64", vermagic: "6.1.0-56-amd64 SMP ",
                                 targets: [.init(object: "vmlinux", buildID: nil)], patchName: "livepatch_new",
                                 createdAt: 1_795_000_000, diffSHA256: String(repeating: "ab", count: 32),
                                 functions: [], toolVersion: "0.1.0", kthreadReachability: [])
        meta.states = states
        if replace { meta.requiredFeatures.insert(.replace) }
        return meta
    }

    func testNoTransitionCheckRefusesWhenSysfsCannotBeRead() throws {
        let sysfs = try unreadableSysfs()
        let failure = try XCTUnwrap(NoTransitionRunningCheck().check(try context(sysfs: sysfs)), "passed on an unreadable sysfs")
        XCTAssertEqual(failure.check, "no-transition")
        XCTAssertTrue(failure.reason.hasPrefix("cannot tell whether a livepatch is in transition: "), failure.reason)
        XCTAssertTrue(failure.reason.contains("livepatch_bad/enabled"), failure.reason)
    }

    func testNoTransitionCheckPassesOnAReadableIdleSysfsAndWithoutLivepatchSupport() throws {
        try make("klp/livepatch_ok/enabled", "1\n")
        try make("klp/livepatch_ok/transition", "0\n")
        XCTAssertNil(NoTransitionRunningCheck().check(try context(sysfs: LivepatchSysfs(root: root.appendingPathComponent("klp").path))))
        // No livepatch core: nothing can be in transition (livepatch-support is the check that refuses).
        XCTAssertNil(NoTransitionRunningCheck().check(try context(sysfs: LivepatchSysfs(root: root.appendingPathComponent("none").path))))
    }

    func testSystemStateCheckRefusesWhenSysfsCannotBeRead() throws {
        let check = SystemStatePreflight(applied: AppliedPatchLog(log: TransitionLog(directory: root.path)))
        let failure = try XCTUnwrap(check.check(metadata(states: [SystemState(id: 1, version: 1)]), sysfs: try unreadableSysfs()))
        XCTAssertEqual(failure.check, "system-state")
        XCTAssertTrue(failure.reason.hasPrefix("cannot read which livepatches are enabled: "), failure.reason)
        XCTAssertTrue(failure.reason.contains("livepatch_bad/enabled"), failure.reason)
    }

    func testSystemStateCheckRefusesOnABrokenRecordFileButNotOnAMissingOne() throws {
        try make("klp/livepatch_ok/enabled", "1\n")
        try make("klp/livepatch_ok/transition", "0\n")
        let sysfs = LivepatchSysfs(root: root.appendingPathComponent("klp").path)
        let log = AppliedPatchLog(log: TransitionLog(directory: root.appendingPathComponent("run").path))
        let check = SystemStatePreflight(applied: log)
        // Nothing applied since boot: no file, nothing to compare.
        XCTAssertNil(check.check(metadata(), sysfs: sysfs))
        XCTAssertEqual(try log.records(), [])
        try make("run/patches.json", "[{\"name\": \"livepatch_ok\", \"appl")
        let failure = try XCTUnwrap(check.check(metadata(), sysfs: sysfs), "a broken patches.json passed as nothing running")
        XCTAssertTrue(failure.reason.hasPrefix("cannot read the system states of the running patches from \(log.path): "), failure.reason)
        XCTAssertThrowsError(try log.records())
        // A record file that cannot be read at all is refused too.
        try FileManager.default.removeItem(atPath: log.path)
        try makeDirectory("run/patches.json")
        XCTAssertNotNil(check.check(metadata(), sysfs: sysfs))
        // Without a livepatch core nothing runs: no refusal of its own (livepatch-support refuses).
        XCTAssertNil(check.check(metadata(), sysfs: LivepatchSysfs(root: root.appendingPathComponent("none").path)))
    }

    func testSystemStateCheckStillFindsConflictsFromReadableRecords() throws {
        try make("klp/livepatch_ok/enabled", "1\n")
        try make("klp/livepatch_ok/transition", "0\n")
        let log = AppliedPatchLog(log: TransitionLog(directory: root.appendingPathComponent("run").path))
        try log.add(AppliedPatch(name: "livepatch_ok", appliedAt: 1, cumulative: false, replaced: [],
                                 states: [SystemState(id: 1, version: 2)]))
        let failure = try XCTUnwrap(SystemStatePreflight(applied: log).check(metadata(states: [SystemState(id: 1, version: 1)]),
                                                                            sysfs: LivepatchSysfs(root: root.appendingPathComponent("klp").path)))
        XCTAssertTrue(failure.reason.contains("running patch livepatch_ok set it up at version 2"), failure.reason)
    }

    /// A kthread whose stat cannot be read is not left out: the read refuses, naming
    /// the pid. A task that exited between the listing and the read is skipped.
    func testKthreadListRefusesAnUnreadableStatButSkipsAnExitedTask() throws {
        let proc = root.appendingPathComponent("proc")
        try make("proc/212/stat", ProcFixtures.tickStat)
        try make("proc/212/stack", ProcFixtures.tickStack)
        try makeDirectory("proc/250")  // exited: its directory was listed, its files are gone (ENOENT)
        XCTAssertEqual(try ProcKthreads.read(procRoot: proc).map(\.pid), [212])
        try makeDirectory("proc/301/stat")  // EISDIR: not an exit
        XCTAssertThrowsError(try ProcKthreads.read(procRoot: proc)) { error in
            guard case ProcKthreadsError.unreadableStat(let pid, let underlying)? = error as? ProcKthreadsError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(pid, 301)
            XCTAssertEqual(underlying.errno, EISDIR)
            XCTAssertTrue("\(error)".hasPrefix("cannot read /proc/301/stat ("), "\(error)")
            XCTAssertTrue("\(error)".contains("refuses"), "\(error)")
        }
    }
}
