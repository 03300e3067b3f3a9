import XCTest
import TestSupport
import PatchModel
import KernelRuntime

/// apply and revert against the real livepatch core, with kpvictim as the target.
final class ApplyRevertVMTests: RuntimeVMTestCase {

    /// apply fixes /proc/kpvictim; status shows the patch enabled with no blockers
    /// and its JSON matches sysfs; revert makes it buggy again and unloads it.
    func testApplyFixesThenRevertRestores() throws {
        let outcome = try boot("apply-revert", """
            check insmod-kpvictim insmod /payload/kpvictim.ko
            expect_eq buggy-before "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            kpatchctl apply /payload/livepatch_sum.ko > /tmp/apply.out 2>&1; rc=$?
            cat /tmp/apply.out
            expect_eq apply-exit "$rc" 0
            expect_match apply-says-patched "$(cat /tmp/apply.out)" "^patched: livepatch_sum is enabled"
            expect_eq fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq sysfs-enabled "$(cat /sys/kernel/livepatch/livepatch_sum/enabled)" 1
            expect_eq sysfs-transition "$(cat /sys/kernel/livepatch/livepatch_sum/transition)" 0
            status=$(kpatchctl status); echo "$status"
            expect_match status-enabled "$status" "^livepatch_sum: enabled"
            if echo "$status" | grep -q "^  transition:"; then fail status-no-transition "$status"; else pass status-no-transition; fi
            echo "KPJSON status $(kpatchctl status --json)"
            echo "KPVAR sysfs=$(cat /sys/kernel/livepatch/livepatch_sum/enabled)$(cat /sys/kernel/livepatch/livepatch_sum/transition) $(cat /sys/kernel/livepatch/livepatch_sum/kpvictim/patched) $(ls /sys/kernel/livepatch/livepatch_sum/kpvictim | grep ,)"
            expect_match list "$(kpatchctl list)" "kpvictim \\\\(patched\\\\): kpvictim_sum.constprop.0,1"
            kpatchctl revert livepatch_sum > /tmp/revert.out 2>&1; rc=$?
            cat /tmp/revert.out
            expect_eq revert-exit "$rc" 0
            expect_eq buggy-again "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            expect_eq livepatch-sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_sum /proc/modules; then fail module-unloaded "$(cat /proc/modules)"; else pass module-unloaded; fi
            expect_eq list-empty "$(kpatchctl list)" "no livepatch loaded"
            """)
        assertPassed(outcome, ["apply-exit", "apply-says-patched", "fixed", "sysfs-enabled", "sysfs-transition",
                               "status-enabled", "status-no-transition", "list", "revert-exit", "buggy-again",
                               "livepatch-sysfs-empty", "module-unloaded", "list-empty"])
        // status --json against the kernel's own sysfs, read in the same guest.
        let status = try RuntimeFixtures.json(StatusReport.self, label: "status", in: outcome)
        // "<enabled><transition> <kpvictim/patched> <function directories>"
        let sysfs = try XCTUnwrap(RuntimeFixtures.variable("sysfs", in: outcome)).split(separator: " ").map(String.init)
        XCTAssertEqual(sysfs.count, 3, "\(sysfs)")
        XCTAssertEqual(status.patches.count, 1)
        let patch = try XCTUnwrap(status.patches.first)
        XCTAssertEqual(patch.name, "livepatch_sum")
        XCTAssertEqual("\(patch.enabled ? 1 : 0)\(patch.transition ? 1 : 0)", sysfs[0])
        XCTAssertNil(patch.running)
        XCTAssertEqual(patch.objects.map(\.name), ["kpvictim"])
        XCTAssertEqual(patch.objects.first.map { $0.patched ? "1" : "0" }, sysfs[1])
        XCTAssertEqual(patch.objects.first?.functions.map { "\($0.name),\($0.sympos)" }, [sysfs[2]])
        XCTAssertEqual(patch.objects.first?.functions.map(\.name), ["kpvictim_sum.constprop.0"])
        XCTAssertEqual(status.lastTransition?.patch, "livepatch_sum")
        XCTAssertEqual(status.lastTransition?.outcome, .completed)
    }

    /// A patch for a module that is not loaded yet waits in sysfs (patched 0) and
    /// takes effect when the module loads.
    func testPatchAppliedBeforeItsTargetLoads() throws {
        let outcome = try boot("late-target", """
            kpatchctl apply /payload/livepatch_sum.ko; rc=$?
            expect_eq apply-exit "$rc" 0
            expect_eq object-not-patched "$(cat /sys/kernel/livepatch/livepatch_sum/kpvictim/patched)" 0
            expect_match status-not-loaded "$(kpatchctl status)" "kpvictim \\\\(not loaded\\\\)"
            check insmod-kpvictim insmod /payload/kpvictim.ko
            expect_eq object-patched "$(cat /sys/kernel/livepatch/livepatch_sum/kpvictim/patched)" 1
            expect_eq fixed-on-load "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            kpatchctl revert livepatch_sum; rc=$?
            expect_eq revert-exit "$rc" 0
            expect_eq buggy-after-revert "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            """)
        assertPassed(outcome, ["apply-exit", "object-not-patched", "status-not-loaded", "insmod-kpvictim",
                               "object-patched", "fixed-on-load", "revert-exit", "buggy-after-revert"])
    }

    /// A missing file, a corrupt .ko, garbage and a module that is not a livepatch:
    /// a clear error, a non-zero exit, nothing loaded.
    func testBadInputsLoadNothing() throws {
        let outcome = try boot("bad-inputs", """
            check insmod-kpvictim insmod /payload/kpvictim.ko
            nothing_loaded() {
                if [ -z "$(ls /sys/kernel/livepatch)" ] && ! grep -q livepatch_ /proc/modules; then pass "$1"; else fail "$1" "$(ls /sys/kernel/livepatch) $(cat /proc/modules)"; fi
            }
            out=$(kpatchctl apply /payload/missing.ko 2>&1); rc=$?
            echo "$out"
            expect_eq missing-exit "$rc" 2
            expect_match missing-message "$out" "cannot read /payload/missing.ko: No such file or directory"
            nothing_loaded missing-nothing-loaded
            head -c 4000 /payload/livepatch_sum.ko > /tmp/truncated.ko
            out=$(kpatchctl apply /tmp/truncated.ko 2>&1); rc=$?
            echo "$out"
            expect_eq truncated-exit "$rc" 2
            expect_match truncated-message "$out" "^error: .*truncated.ko"
            nothing_loaded truncated-nothing-loaded
            cp /payload/livepatch_sum.ko /tmp/corrupt.ko
            dd if=/dev/zero of=/tmp/corrupt.ko bs=1 seek=64 count=512 conv=notrunc 2>/dev/null
            out=$(kpatchctl apply /tmp/corrupt.ko 2>&1); rc=$?
            echo "$out"
            expect_eq corrupt-exit "$rc" 2
            expect_match corrupt-message "$(echo "$out" | head -n 1)" "^error: "
            expect_match corrupt-names-file "$out" "corrupt.ko"
            nothing_loaded corrupt-nothing-loaded
            echo garbage > /tmp/garbage.ko
            out=$(kpatchctl apply /tmp/garbage.ko --json); rc=$?
            echo "$out"
            expect_eq garbage-exit "$rc" 2
            expect_match garbage-json "$out" '"error":".*is not an ELF file'
            out=$(kpatchctl apply /payload/unknown_symbol.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kernel-refusal-exit "$rc" 3
            expect_match kernel-refusal-message "$out" "the kernel refused to load /payload/unknown_symbol.ko: .*\\(ENOENT\\)\\. The module needs a symbol"
            nothing_loaded kernel-refusal-nothing-loaded
            out=$(kpatchctl apply /payload/foreign_sum.ko 2>&1); rc=$?
            echo "$out"
            expect_eq foreign-exit "$rc" 2
            expect_match foreign-message "$out" "carries no kpatchctl metadata.*pass --foreign"
            nothing_loaded foreign-nothing-loaded
            out=$(kpatchctl apply /payload/kpvictim.ko 2>&1); rc=$?
            echo "$out"
            expect_eq not-livepatch-exit "$rc" 2
            expect_match not-livepatch-message "$out" "not a livepatch module"
            nothing_loaded all-nothing-loaded
            expect_eq still-buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            out=$(kpatchctl apply --foreign /payload/foreign_sum.ko 2>&1); rc=$?
            echo "$out"
            expect_eq foreign-applied-exit "$rc" 0
            expect_eq foreign-applied "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            """)
        assertPassed(outcome, ["foreign-exit", "foreign-message", "foreign-nothing-loaded", "foreign-applied-exit", "foreign-applied",
                               "missing-exit", "missing-message", "missing-nothing-loaded", "truncated-exit",
                               "truncated-message", "truncated-nothing-loaded", "corrupt-exit", "corrupt-message",
                               "corrupt-nothing-loaded", "corrupt-names-file", "kernel-refusal-exit", "kernel-refusal-message",
                               "kernel-refusal-nothing-loaded", "garbage-exit", "garbage-json", "not-livepatch-exit",
                               "not-livepatch-message", "all-nothing-loaded", "still-buggy"])
    }
}
