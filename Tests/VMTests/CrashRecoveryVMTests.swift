import XCTest
import TestSupport
import PatchModel
import KernelRuntime

/// apply and revert killed with SIGKILL in the middle of a transition (a reader
/// asleep in kpvictim_wait_show keeps it running), and two applies racing for the
/// lock. The kernel keeps the transition; status shows it and who left it; a later
/// revert ends it cleanly.
final class CrashRecoveryVMTests: RuntimeVMTestCase {
    /// Starts a reader asleep in kpvictim_wait_release (the caller releases it).
    private let startReader = """
        cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
        wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack

        """

    /// kill -9 of a blocked apply: status shows the patching transition and the dead
    /// holder; another apply reclaims the lock and is refused naming the transition;
    /// revert reverses it and unloads; tracing leftovers are removed. Then two
    /// concurrent applies: one proceeds, the other names it as the lock holder.
    func testKilledApplyThenConcurrentApplies() throws {
        let outcome = try boot("killed-apply", "check insmod-kpvictim insmod /payload/kpvictim.ko\n" + startReader + """
            kpatchctl apply --timeout 120 /payload/livepatch_wait.ko > /tmp/apply.out 2>&1 & applier=$!
            wait_for 10 grep -q 1 /sys/kernel/livepatch/livepatch_wait/transition
            sleep 1
            kill -9 $applier; wait $applier; rc=$?
            expect_eq apply-killed "$rc" 137
            status=$(kpatchctl status); echo "$status"
            expect_match status-patch "$status" "^livepatch_wait: enabled"
            expect_match status-transition "$status" "transition: patching, .*[0-9]+/[0-9]+ tasks migrated"
            expect_match status-dead-holder "$status" "started by kpatchctl apply livepatch_wait \\(pid $applier\\), which died: kpatchctl revert livepatch_wait ends it"
            expect_match status-names-reader "$status" "pid $reader tid $reader cat"
            echo "KPJSON status $(kpatchctl status --json)"
            out=$(kpatchctl apply /payload/livepatch_sum.ko 2>&1); rc=$?
            echo "$out"
            expect_eq second-apply-exit "$rc" 2
            expect_match second-apply-reclaims "$out" "note: kpatchctl apply livepatch_wait \\(pid $applier\\) died holding the transition lock; taking it over"
            expect_match second-apply-names-transition "$out" "livepatch livepatch_wait is in transition \\(patching\\)"
            if grep -q livepatch_sum /proc/modules; then fail second-not-loaded "loaded"; else pass second-not-loaded; fi
            out=$(kpatchctl revert livepatch_wait --timeout 30 2>&1); rc=$?
            echo "$out"
            expect_eq revert-exit "$rc" 0
            expect_match revert-done "$out" "reverted: livepatch_wait disabled in .*, module unloaded"
            expect_eq revert-sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_wait /proc/modules; then fail revert-unloaded "$(cat /proc/modules)"; else pass revert-unloaded; fi
            if [ -e /sys/kernel/tracing/instances/kpatchctl ] || grep -q kpatchctl /sys/kernel/tracing/kprobe_events; then
                fail probes-removed "$(cat /sys/kernel/tracing/kprobe_events)"; else pass probes-removed; fi
            echo go > /proc/kpvictim_release; wait $reader
            expect_eq reader-old-code "$(cat /tmp/reader.out)" "released"

            \(startReader)
            kpatchctl apply --timeout 60 /payload/livepatch_wait.ko > /tmp/a.out 2>&1 & a=$!
            kpatchctl apply --timeout 60 /payload/livepatch_waitmsg.ko > /tmp/b.out 2>&1 & b=$!
            wait_for 20 sh -c "! kill -0 $a 2>/dev/null || ! kill -0 $b 2>/dev/null"
            sleep 1
            if kill -0 $a 2>/dev/null; then winner=$a wname=livepatch_wait loser=$b lout=/tmp/b.out
            else winner=$b wname=livepatch_waitmsg loser=$a lout=/tmp/a.out; fi
            wait $loser; rc=$?
            cat $lout
            if kill -0 $winner 2>/dev/null; then pass one-proceeds; else fail one-proceeds "both ended: $(cat /tmp/a.out /tmp/b.out)"; fi
            expect_eq loser-exit "$rc" 2
            expect_match loser-names-holder "$(cat $lout)" "kpatchctl apply $wname \\(pid $winner\\) holds the transition lock /run/kpatchctl/lock"
            expect_eq only-winner-loaded "$(ls /sys/kernel/livepatch)" "$wname"
            echo go > /proc/kpvictim_release; wait $reader
            wait $winner; rc=$?
            expect_eq winner-exit "$rc" 0
            check winner-revert kpatchctl revert $wname
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            """)
        assertPassed(outcome, ["insmod-kpvictim", "apply-killed", "status-patch", "status-transition", "status-dead-holder",
                               "status-names-reader", "second-apply-exit", "second-apply-reclaims",
                               "second-apply-names-transition", "second-not-loaded", "revert-exit", "revert-done",
                               "revert-sysfs-empty", "revert-unloaded", "probes-removed", "reader-old-code",
                               "one-proceeds", "loser-exit", "loser-names-holder", "only-winner-loaded", "winner-exit",
                               "winner-revert", "nothing-loaded"])
        let status = try RuntimeFixtures.json(StatusReport.self, label: "status", in: outcome)
        let lock = try XCTUnwrap(status.lock)
        XCTAssertEqual(lock.holder.purpose, "apply livepatch_wait")
        XCTAssertFalse(lock.running)
        XCTAssertEqual(status.patches.first?.running?.direction, .patching)
    }

    /// kill -9 of a blocked revert (a reader asleep in the new code): status shows the
    /// unpatching transition and the dead revert; apply is refused; a second revert
    /// follows the transition to its end and unloads. A revert killed whose transition
    /// then finished leaves only the module: revert unloads it.
    func testKilledRevertIsFinishedByTheNextRevert() throws {
        let killRevert = """
            check apply-waitmsg kpatchctl apply /payload/livepatch_waitmsg.ko
            \(startReader)
            kpatchctl revert --timeout 120 livepatch_waitmsg > /tmp/revert.out 2>&1 & reverter=$!
            wait_for 10 grep -q 1 /sys/kernel/livepatch/livepatch_waitmsg/transition
            sleep 1
            kill -9 $reverter; wait $reverter; rc=$?

            """
        let outcome = try boot("killed-revert", "check insmod-kpvictim insmod /payload/kpvictim.ko\n" + killRevert + """
            expect_eq revert-killed "$rc" 137
            status=$(kpatchctl status); echo "$status"
            expect_match status-patch "$status" "^livepatch_waitmsg: disabled"
            expect_match status-transition "$status" "transition: unpatching"
            expect_match status-dead-holder "$status" "started by kpatchctl revert livepatch_waitmsg \\(pid $reverter\\), which died"
            out=$(kpatchctl apply /payload/livepatch_sum.ko 2>&1); rc=$?
            echo "$out"
            expect_eq apply-refused "$rc" 2
            expect_match apply-names-transition "$out" "livepatch livepatch_waitmsg is in transition \\(unpatching\\)"
            kpatchctl revert livepatch_waitmsg --timeout 60 > /tmp/revert2.out 2>&1 & r2=$!
            wait_for 10 grep -q "already disabled and unpatching (a revert died): following the transition" /tmp/revert2.out
            if kill -0 $r2 2>/dev/null; then pass second-revert-waits; else fail second-revert-waits "$(cat /tmp/revert2.out)"; fi
            echo go > /proc/kpvictim_release; wait $reader
            expect_eq reader-new-code "$(cat /tmp/reader.out)" "released (patched)"
            wait $r2; rc=$?
            cat /tmp/revert2.out
            expect_eq second-revert-exit "$rc" 0
            expect_match second-revert-done "$(cat /tmp/revert2.out)" "reverted: livepatch_waitmsg disabled in .*, module unloaded"
            expect_eq sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_waitmsg /proc/modules; then fail unloaded "$(cat /proc/modules)"; else pass unloaded; fi

            \(killRevert)
            echo go > /proc/kpvictim_release; wait $reader
            wait_for 20 sh -c "! test -e /sys/kernel/livepatch/livepatch_waitmsg"
            if grep -q "^livepatch_waitmsg " /proc/modules; then pass module-left; else fail module-left "not loaded"; fi
            out=$(kpatchctl revert livepatch_waitmsg 2>&1); rc=$?
            echo "$out"
            expect_eq leftover-revert-exit "$rc" 0
            expect_match leftover-revert-says "$out" "already unpatched but its module is loaded \\(a revert died\\): unloading it"
            if grep -q livepatch_waitmsg /proc/modules; then fail leftover-unloaded "$(cat /proc/modules)"; else pass leftover-unloaded; fi
            out=$(kpatchctl revert livepatch_waitmsg 2>&1); rc=$?
            expect_eq no-such-patch "$rc" 2
            """)
        assertPassed(outcome, ["insmod-kpvictim", "apply-waitmsg", "revert-killed", "status-patch", "status-transition",
                               "status-dead-holder", "apply-refused", "apply-names-transition", "second-revert-waits",
                               "reader-new-code", "second-revert-exit", "second-revert-done", "sysfs-empty", "unloaded",
                               "module-left", "leftover-revert-exit", "leftover-revert-says", "leftover-unloaded",
                               "no-such-patch"])
    }
}
