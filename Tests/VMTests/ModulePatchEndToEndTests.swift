import XCTest
import TestSupport

/// `kpatchctl build examples/kpvictim/fix.diff` on the host, then the patch in the
/// pinned kernel: the bug is fixed while kpvictim keeps running.
final class ModulePatchEndToEndTests: XCTestCase {
    func testBuiltFixPatchesTheRunningModule() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("e2e-fix")
        defer { try? FileManager.default.removeItem(at: work) }
        // The deployed module: built by the user in place; its build id goes into the patch.
        let victim = try KbuildModule().build("e2e-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let patch = work.appendingPathComponent("livepatch_fix.ko")
        let build = try KpatchctlBinary().buildModulePatch(
            diff: bed.root.appendingPathComponent("examples/kpvictim/fix.diff"), moduleSource: victim,
            output: patch, cache: work.appendingPathComponent("cache"))
        XCTAssertEqual(build.status, 0, build.output)
        XCTAssertTrue(build.output.contains("kpvictim: kpvictim_sum"), build.output)
        let vm = TestVM()
        let payload = try vm.payload("e2e-fix", script: """
            insmod /payload/kpvictim.ko
            expect_eq buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            expect_match info-in-guest "$(kpatchctl info /payload/livepatch_fix.ko)" "replaces 1 function"
            check load-patch insmod /payload/livepatch_fix.ko
            wait_for 30 sh -c 'test "$(cat /sys/kernel/livepatch/livepatch_fix/transition)" = 0'
            expect_eq enabled "$(cat /sys/kernel/livepatch/livepatch_fix/enabled)" "1"
            expect_eq object-patched "$(cat /sys/kernel/livepatch/livepatch_fix/kpvictim/patched)" "1"
            expect_eq fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            t1=$(sed -n 's/ticks = //p' /proc/kpvictim); sleep 1; t2=$(sed -n 's/ticks = //p' /proc/kpvictim)
            if [ "$t2" -gt "$t1" ]; then pass still-ticking; else fail still-ticking "$t1 -> $t2"; fi
            """, files: ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko"), "livepatch_fix.ko": patch])
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 120)
        XCTAssertTrue(outcome.passed, outcome.report)
        for name in ["buggy", "info-in-guest", "load-patch", "enabled", "object-patched", "fixed", "still-ticking"] {
            XCTAssertTrue(outcome.passed(name), "\(name):\n\(outcome.report)")
        }
    }
}
