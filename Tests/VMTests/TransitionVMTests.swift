import XCTest
import TestSupport
import PatchModel
import KernelRuntime

/// Transitions that wait for a task: the /proc/kpvictim_wait reader sleeps in
/// kpvictim_wait_release with kpvictim_wait_show (the patched function) on its stack.
final class TransitionVMTests: RuntimeVMTestCase {

    /// Starts a sleeping reader and `apply --timeout T` in the background; waits
    /// until the transition runs.
    private func startBlockedApply(timeout: Int) -> String {
        """
        check insmod-kpvictim insmod /payload/kpvictim.ko
        cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
        echo "KPVAR reader=$reader"
        wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
        kpatchctl apply --timeout \(timeout) /payload/livepatch_wait.ko > /tmp/apply.out 2>&1 &
        applier=$!
        wait_for 10 grep -q 1 /sys/kernel/livepatch/livepatch_wait/transition
        expect_eq transition-running "$(cat /sys/kernel/livepatch/livepatch_wait/transition)" 1
        sleep 2

        """
    }

    /// status names the reader as not migrated with the patched function on its
    /// stack; a second apply is refused, naming the first as the lock holder; releasing the reader completes the
    /// transition; the log holds a user-return switch and a kthread stack check.
    func testReaderBlocksUntilReleased() throws {
        let outcome = try boot("blocked-released", startBlockedApply(timeout: 30) + """
            status=$(kpatchctl status); echo "$status"
            expect_match status-direction "$status" "transition: patching, running for [0-9.]+ s, [0-9]+/[0-9]+ tasks migrated"
            expect_match status-lists-reader "$status" "pid $reader tid $reader cat \\\\(user, universe unpatched\\\\): on its stack: kpvictim_wait_show"
            expect_match status-stack-check-reason "$status" "last stack check: EADDRINUSE: a patched function is on its stack"
            echo "KPJSON running $(kpatchctl status --json)"
            echo "KPVAR sysfs=$(cat /sys/kernel/livepatch/livepatch_wait/enabled)$(cat /sys/kernel/livepatch/livepatch_wait/transition) $(cat /proc/$reader/patch_state)"
            out=$(kpatchctl apply /payload/livepatch_sum.ko 2>&1); rc=$?
            echo "$out"
            expect_eq second-apply-exit "$rc" 2
            expect_match second-apply-message "$out" "kpatchctl apply livepatch_wait \\\\(pid $applier\\\\) holds the transition lock"
            if [ -d /sys/kernel/livepatch/livepatch_sum ] || grep -q livepatch_sum /proc/modules; then fail second-not-loaded "loaded"; else pass second-not-loaded; fi
            if kill -0 $applier 2>/dev/null; then pass apply-still-waiting; else fail apply-still-waiting "$(cat /tmp/apply.out)"; fi
            echo go > /proc/kpvictim_release
            wait $applier; rc=$?
            cat /tmp/apply.out
            expect_eq apply-exit "$rc" 0
            expect_match apply-live-count "$(cat /tmp/apply.out)" "patching livepatch_wait: [0-9]+/[0-9]+ tasks migrated"
            expect_eq reader-released "$(cat /tmp/reader.out)" "released"
            expect_eq patched-behaviour "$(cat /proc/kpvictim_wait)" "patched"
            kpatchctl status
            echo "KPJSON log $(cat /run/kpatchctl/last-transition.json)"
            """)
        assertPassed(outcome, ["transition-running", "status-direction", "status-lists-reader",
                               "status-stack-check-reason", "second-apply-exit",
                               "second-apply-message", "second-not-loaded", "apply-still-waiting", "apply-exit",
                               "apply-live-count", "reader-released", "patched-behaviour"])
        let reader = try XCTUnwrap(RuntimeFixtures.variable("reader", in: outcome).flatMap { Int($0) })

        // status --json while the transition ran, against sysfs and the reader's patch_state.
        let running = try RuntimeFixtures.json(StatusReport.self, label: "running", in: outcome)
        let sysfs = try XCTUnwrap(RuntimeFixtures.variable("sysfs", in: outcome)).split(separator: " ").map(String.init)
        let patch = try XCTUnwrap(running.patches.first { $0.name == "livepatch_wait" })
        XCTAssertEqual("\(patch.enabled ? 1 : 0)\(patch.transition ? 1 : 0)", sysfs[0])
        let transition = try XCTUnwrap(patch.running)
        XCTAssertEqual(transition.direction, .patching)
        XCTAssertNotNil(transition.ageSeconds)
        let blocker = try XCTUnwrap(transition.blockers.first { $0.task.tid == reader }, "\(transition.blockers)")
        XCTAssertEqual(blocker.task.pid, reader)
        XCTAssertEqual(blocker.task.comm, "cat")
        XCTAssertFalse(blocker.task.isKthread)
        XCTAssertEqual(String(blocker.task.patchState.rawValue), sysfs[1])
        XCTAssertEqual(blocker.patchedFunctionsOnStack, ["kpvictim_wait_show"])
        XCTAssertTrue(blocker.stack.contains { $0.function == "kpvictim_wait_release" && $0.module == "kpvictim" })
        XCTAssertLessThan(transition.migrated, transition.total)
        // The kernel retries once a second; its check fails on the patched function.
        XCTAssertEqual(blocker.lastStackCheck, -98, "EADDRINUSE")

        // The transition log: the reader switched at its return to user mode, the
        // kpvictim_tick kthread by a stack check, both seen by trace events.
        let log = try RuntimeFixtures.json(TransitionRecord.self, label: "log", in: outcome)
        XCTAssertEqual(log.outcome, .completed)
        XCTAssertEqual(log.tracking, "tracefs")
        let readerSwitch = try XCTUnwrap(log.switches.first { $0.tid == reader })
        XCTAssertEqual(readerSwitch.path, .userReturn)
        XCTAssertTrue(readerSwitch.traced)
        XCTAssertGreaterThan(readerSwitch.seconds, 2, "the reader switched only after its release")
        let tick = try XCTUnwrap(log.switches.first { $0.comm == "kpvictim_tick" })
        XCTAssertTrue(tick.kthread)
        XCTAssertEqual(tick.path, .stackCheck)
        XCTAssertTrue(tick.traced)
    }

    /// Never released: apply times out, prints the blocker, reverses, unloads and
    /// exits 4; the module behaves as before and no livepatch is loaded.
    func testStalledTransitionIsReversed() throws {
        let outcome = try boot("blocked-reversed", startBlockedApply(timeout: 5) + """
            wait $applier; rc=$?
            cat /tmp/apply.out
            expect_eq apply-exit "$rc" 4
            expect_match apply-names-blocker "$(cat /tmp/apply.out)" "pid $reader tid $reader cat \\\\(user, universe unpatched\\\\): on its stack: kpvictim_wait_show"
            expect_match apply-says-reversed "$(cat /tmp/apply.out)" "reversed in .*: livepatch_wait unloaded; the system is unpatched"
            expect_eq livepatch-sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_wait /proc/modules; then fail module-unloaded "$(cat /proc/modules)"; else pass module-unloaded; fi
            echo go > /proc/kpvictim_release
            wait $reader
            expect_eq first-reader-released "$(cat /tmp/reader.out)" "released"
            cat /proc/kpvictim_wait > /tmp/reader2.out & reader2=$!
            sleep 1
            if kill -0 $reader2 2>/dev/null; then pass old-behaviour-waits; else fail old-behaviour-waits "$(cat /tmp/reader2.out)"; fi
            echo go > /proc/kpvictim_release
            wait $reader2
            expect_eq old-behaviour-released "$(cat /tmp/reader2.out)" "released"
            echo "KPJSON status $(kpatchctl status --json)"
            """)
        assertPassed(outcome, ["transition-running", "apply-exit", "apply-names-blocker", "apply-says-reversed",
                               "livepatch-sysfs-empty", "module-unloaded", "first-reader-released",
                               "old-behaviour-waits", "old-behaviour-released"])
        let status = try RuntimeFixtures.json(StatusReport.self, label: "status", in: outcome)
        XCTAssertTrue(status.patches.isEmpty)
        let last = try XCTUnwrap(status.lastTransition)
        XCTAssertEqual(last.outcome, .reversed)
        let reader = try XCTUnwrap(RuntimeFixtures.variable("reader", in: outcome).flatMap { Int($0) })
        XCTAssertEqual(last.blockers.map(\.task.tid), [reader])
    }

    /// Ctrl-C (SIGINT) while apply waits ends the transition as a timeout would:
    /// reversed, unloaded, exit 4, the blocker named.
    func testInterruptedApplyIsReversed() throws {
        let outcome = try boot("blocked-interrupted", startBlockedApply(timeout: 60) + """
            timeout 3 kpatchctl status --watch --json > /tmp/watch.out
            samples=$(grep -c '"livepatch_wait"' /tmp/watch.out)
            if [ "$samples" -ge 2 ]; then pass watch-repeats; else fail watch-repeats "$samples samples: $(cat /tmp/watch.out)"; fi
            kill -INT $applier
            wait $applier; rc=$?
            cat /tmp/apply.out
            expect_eq interrupted-exit "$rc" 4
            expect_match says-interrupted "$(cat /tmp/apply.out)" "interrupted: 1 task\\(s\\) not migrated"
            expect_match interrupted-reversed "$(cat /tmp/apply.out)" "reversed in .*: livepatch_wait unloaded; the system is unpatched"
            expect_eq interrupted-sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_wait /proc/modules; then fail interrupted-unloaded "$(cat /proc/modules)"; else pass interrupted-unloaded; fi
            """)
        assertPassed(outcome, ["transition-running", "watch-repeats", "interrupted-exit", "says-interrupted", "interrupted-reversed",
                               "interrupted-sysfs-empty", "interrupted-unloaded"])
    }

    /// A revert that cannot finish (a reader asleep in the new code) times out
    /// and re-enables the patch: exit 4, the system fully patched, the module loaded.
    func testRevertThatTimesOutReenablesThePatch() throws {
        let outcome = try boot("revert-timeout", """
            check insmod-kpvictim insmod /payload/kpvictim.ko
            check apply-waitmsg kpatchctl apply /payload/livepatch_waitmsg.ko
            cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
            wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
            kpatchctl revert --timeout 3 livepatch_waitmsg > /tmp/revert.out 2>&1; rc=$?
            cat /tmp/revert.out
            expect_eq revert-exit "$rc" 4
            expect_match revert-names-reader "$(cat /tmp/revert.out)" "pid $reader tid $reader cat \\(user, universe patched\\): on its stack: kpvictim_wait_show \\(new code\\); last stack check: EADDRINUSE"
            expect_match revert-says-reenabled "$(cat /tmp/revert.out)" "re-enabled.*livepatch_waitmsg stays loaded; the system is fully patched"
            expect_eq still-enabled "$(cat /sys/kernel/livepatch/livepatch_waitmsg/enabled)$(cat /sys/kernel/livepatch/livepatch_waitmsg/transition)" "10"
            echo go > /proc/kpvictim_release
            wait $reader
            expect_eq new-code-answered "$(cat /tmp/reader.out)" "released (patched)"
            check revert-after-release kpatchctl revert livepatch_waitmsg
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            """)
        assertPassed(outcome, ["insmod-kpvictim", "apply-waitmsg", "revert-exit", "revert-names-reader", "revert-says-reenabled",
                               "still-enabled", "new-code-answered", "revert-after-release", "nothing-loaded"])
    }

    /// --no-revert leaves a stalled transition running (exit 5, status shows it);
    /// revert then reverses it, waits until the kernel is done and unloads.
    func testNoRevertLeavesItRunningUntilReverted() throws {
        let outcome = try boot("blocked-no-revert", startBlockedApply(timeout: 3).replacingOccurrences(
            of: "apply --timeout 3", with: "apply --no-revert --timeout 3") + """
            wait $applier; rc=$?
            cat /tmp/apply.out
            expect_eq apply-exit "$rc" 5
            expect_match apply-says-stalled "$(cat /tmp/apply.out)" "stalled: livepatch_wait is still in transition"
            expect_eq still-in-transition "$(cat /sys/kernel/livepatch/livepatch_wait/transition)" 1
            expect_match status-lists-reader "$(kpatchctl status)" "pid $reader tid $reader cat"
            kpatchctl revert livepatch_wait --timeout 20 > /tmp/revert.out 2>&1; rc=$?
            cat /tmp/revert.out
            expect_eq revert-exit "$rc" 0
            expect_eq livepatch-sysfs-empty "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_wait /proc/modules; then fail module-unloaded "$(cat /proc/modules)"; else pass module-unloaded; fi
            echo go > /proc/kpvictim_release
            wait $reader
            expect_eq reader-old-behaviour "$(cat /tmp/reader.out)" "released"
            """)
        assertPassed(outcome, ["transition-running", "apply-exit", "apply-says-stalled", "still-in-transition",
                               "status-lists-reader", "revert-exit", "livepatch-sysfs-empty", "module-unloaded",
                               "reader-old-behaviour"])
    }
}
