import XCTest
import TestSupport

/// Faults the kernel can produce, in one boot (issue 18, item 4). Each ends in a named
/// state with nothing half-loaded: no sysfs entry or module of a refused patch, and a
/// patch that stays is enabled with no transition (or in the transition the exit code
/// names). The hand-written modules are Tests/Fixtures/kernel-faults.
final class KernelFaultsVMTests: RuntimeVMTestCase {
    private static var fixtures: Result<URL, Error>!

    override class func setUp() {
        super.setUp()
        fixtures = Result {
            try KbuildModule().build("kernel-faults",
                                     sources: TestBed.shared.root.appendingPathComponent("Tests/Fixtures/kernel-faults"))
        }
    }

    override class func tearDown() {
        if let dir = try? fixtures.get() { try? FileManager.default.removeItem(at: dir) }
        super.tearDown()
    }

    func testInitFailuresLateAndRemovedTargetsBusyKernelAndSecondApply() throws {
        let dir = try Self.fixtures.get()
        var files: [String: URL] = [:]
        for name in ["kpblocker", "livepatch_late", "livepatch_nomem", "livepatch_nosym"] {
            files["\(name).ko"] = dir.appendingPathComponent("\(name).ko")
        }
        let outcome = try boot("kernel-faults", """
            lp=/sys/kernel/livepatch
            # gone CHECK NAME: no sysfs entry and no module of that name.
            gone() {
                if [ ! -e $lp/$2 ] && ! grep -q "^$2 " /proc/modules; then pass $1; else fail $1 "$(ls $lp) / $(cat /proc/modules)"; fi
            }

            # 1. A patch module whose init fails before it registers anything (-ENOMEM).
            out=$(kpatchctl apply --foreign /payload/livepatch_nomem.ko 2>&1); rc=$?
            echo "$out"
            expect_eq nomem-exit "$rc" 3
            expect_match nomem-names-errno "$out" "the kernel refused to load /payload/livepatch_nomem.ko: .* \\(ENOMEM\\)"
            gone nomem-nothing-left livepatch_nomem
            expect_eq nomem-lock-free "$(cat /run/kpatchctl/lock)" ""

            # 2. A patch whose registration fails in the kernel (klp_enable_patch: no such
            #    symbol) after it began to build its sysfs directory: EINVAL, all undone.
            out=$(kpatchctl apply --foreign /payload/livepatch_nosym.ko 2>&1); rc=$?
            echo "$out"
            expect_eq nosym-exit "$rc" 3
            expect_match nosym-names-errno "$out" "the kernel refused to load /payload/livepatch_nosym.ko: .* \\(EINVAL\\)"
            expect_match nosym-kernel-says "$(dmesg | grep kpatchctl_no_such_function)" "symbol 'kpatchctl_no_such_function' not found"
            gone nosym-nothing-left livepatch_nosym
            expect_eq nosym-status "$(kpatchctl status | head -n 1)" "no livepatch loaded"

            # 3. A target module that loads during the transition, is removed during it,
            #    loads again, and is removed while the patch is applied. livepatch_late
            #    patches kpblocker (a reader asleep in the old kpblocker_show holds the
            #    transition) and kpvictim (not loaded when the patch is applied).
            check late-insmod-blocker insmod /payload/kpblocker.ko
            cat /proc/kpblocker > /tmp/blocker.out & breader=$!
            wait_for 5 grep -q kpblocker_wait /proc/$breader/stack
            kpatchctl apply --foreign --timeout 120 /payload/livepatch_late.ko > /tmp/late.out 2>&1 & applier=$!
            # The kernel shows the transition just before it marks the patch enabled
            # (__klp_enable_patch: klp_start_transition, then patch->enabled = true).
            wait_for 20 sh -c "[ \\"\\$(cat $lp/livepatch_late/enabled)\\$(cat $lp/livepatch_late/transition)\\" = 11 ]"
            expect_eq late-in-transition "$(cat $lp/livepatch_late/enabled)$(cat $lp/livepatch_late/transition)" 11
            expect_eq late-victim-absent "$(cat $lp/livepatch_late/kpvictim/patched)" 0
            check late-insmod-mid-transition insmod /payload/kpvictim.ko
            expect_eq late-victim-patched-on-load "$(cat $lp/livepatch_late/kpvictim/patched)" 1
            expect_eq late-still-in-transition "$(cat $lp/livepatch_late/transition)" 1
            expect_match late-kernel-applied "$(dmesg | grep "applying patch 'livepatch_late' to loading module 'kpvictim'")" applying
            st=$(kpatchctl status); echo "$st"
            expect_match late-status-victim "$st" "^  kpvictim \\(patched\\)"
            expect_match late-status-transition "$st" "^  transition: patching"
            check late-rmmod-mid-transition rmmod kpvictim
            expect_eq late-victim-unpatched-on-removal "$(cat $lp/livepatch_late/kpvictim/patched)" 0
            expect_eq late-still-in-transition-after-rmmod "$(cat $lp/livepatch_late/transition)" 1
            expect_match late-kernel-reverted "$(dmesg | grep "reverting patch 'livepatch_late' on unloading module 'kpvictim'")" reverting
            expect_match late-status-not-loaded "$(kpatchctl status)" "^  kpvictim \\(not loaded\\)"
            check late-insmod-again insmod /payload/kpvictim.ko
            expect_eq late-victim-patched-again "$(cat $lp/livepatch_late/kpvictim/patched)" 1
            echo go > /proc/kpblocker_release; wait $breader
            expect_eq late-reader-old-code "$(cat /tmp/blocker.out)" "released"
            wait $applier; rc=$?
            cat /tmp/late.out
            expect_eq late-apply-exit "$rc" 0
            expect_eq late-applied "$(cat $lp/livepatch_late/enabled)$(cat $lp/livepatch_late/transition)" 10
            expect_eq late-blocker-new-code "$(cat /proc/kpblocker)" "patched"
            expect_eq late-victim-new-code "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            # Removed while the patch is applied: the kernel lets it go and unpatches it;
            # the patch stays enabled and applies again when the module comes back.
            check applied-rmmod rmmod kpvictim
            expect_eq applied-victim-unpatched "$(cat $lp/livepatch_late/kpvictim/patched)" 0
            expect_eq applied-patch-stays "$(cat $lp/livepatch_late/enabled)$(cat $lp/livepatch_late/transition)" 10
            expect_match applied-status "$(kpatchctl status)" "^  kpvictim \\(not loaded\\)"
            check applied-insmod-again insmod /payload/kpvictim.ko
            expect_eq applied-victim-fixed-again "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            # The patch module itself cannot be removed while its patch is enabled.
            if rmmod livepatch_late 2>/tmp/rmmod.err; then fail patch-rmmod-refused "rmmod livepatch_late succeeded"
            else pass patch-rmmod-refused; fi
            cat /tmp/rmmod.err
            expect_eq patch-rmmod-changes-nothing "$(cat $lp/livepatch_late/enabled)$(cat $lp/livepatch_late/transition)" 10
            check late-revert kpatchctl revert livepatch_late
            gone late-nothing-left livepatch_late
            expect_eq late-victim-old-code "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            check late-rmmod-blocker rmmod kpblocker

            # 4. A second apply while a transition runs, and EBUSY from the kernel.
            check busy-sum-apply kpatchctl apply /payload/livepatch_sum.ko
            cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
            wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
            kpatchctl apply --no-revert --timeout 6 /payload/livepatch_wait.ko > /tmp/wait.out 2>&1 & applier=$!
            wait_for 20 grep -q 1 $lp/livepatch_wait/transition
            # While a kpatchctl follows the transition: the lock.
            out=$(kpatchctl apply /payload/livepatch_waitmsg.ko 2>&1); rc=$?
            echo "$out"
            expect_eq followed-second-apply-exit "$rc" 2
            expect_match followed-second-apply-names-holder "$out" "kpatchctl apply livepatch_wait \\(pid $applier\\) holds the transition lock /run/kpatchctl/lock"
            out=$(kpatchctl revert livepatch_sum 2>&1); rc=$?
            echo "$out"
            expect_eq followed-revert-exit "$rc" 2
            expect_match followed-revert-names-holder "$out" "kpatchctl apply livepatch_wait \\(pid $applier\\) holds the transition lock"
            wait $applier; rc=$?
            cat /tmp/wait.out
            expect_eq no-revert-exit "$rc" 5
            expect_eq no-revert-left-running "$(cat $lp/livepatch_wait/enabled)$(cat $lp/livepatch_wait/transition)" 11
            expect_match status-unfollowed "$(kpatchctl status)" "no kpatchctl follows it: kpatchctl revert livepatch_wait ends it"
            # No kpatchctl follows it: apply's preflight refuses.
            out=$(kpatchctl apply /payload/livepatch_waitmsg.ko 2>&1); rc=$?
            echo "$out"
            expect_eq unfollowed-second-apply-exit "$rc" 2
            expect_match unfollowed-second-apply-names-transition "$out" "no-transition: livepatch livepatch_wait is in transition \\(patching\\)"
            gone unfollowed-second-apply-nothing-left livepatch_waitmsg
            # The kernel's own refusal of a second patch (klp_enable_patch: EBUSY), past kpatchctl.
            out=$(insmod /payload/livepatch_waitmsg.ko 2>&1); rc=$?
            echo "$out"
            if [ "$rc" != 0 ]; then pass kernel-ebusy-refused; else fail kernel-ebusy-refused "insmod succeeded"; fi
            expect_match kernel-ebusy-errno "$out" "Device or resource busy"
            gone kernel-ebusy-nothing-left livepatch_waitmsg
            # Disabling another patch while one is in transition: sysfs says EBUSY.
            out=$(sh -c "echo 0 > $lp/livepatch_sum/enabled" 2>&1); rc=$?
            echo "$out"
            expect_match sysfs-ebusy "$out" "Device or resource busy"
            out=$(kpatchctl revert livepatch_sum 2>&1); rc=$?
            echo "$out"
            expect_eq revert-other-refused-exit "$rc" 2
            expect_match revert-other-names-transition "$out" "no-transition: livepatch livepatch_wait is in transition \\(patching\\)"
            expect_eq revert-other-changes-nothing "$(cat $lp/livepatch_sum/enabled)$(cat $lp/livepatch_sum/transition)" 10
            expect_eq revert-other-lock-free "$(cat /run/kpatchctl/lock)" ""
            # revert ends the stalled transition; then the other patch can go.
            out=$(kpatchctl revert livepatch_wait --timeout 30 2>&1); rc=$?
            echo "$out"
            expect_eq stalled-revert-exit "$rc" 0
            gone stalled-revert-nothing-left livepatch_wait
            echo go > /proc/kpvictim_release; wait $reader
            expect_eq busy-reader-old-code "$(cat /tmp/reader.out)" "released"
            check busy-sum-revert kpatchctl revert livepatch_sum
            expect_eq end-nothing-loaded "$(ls $lp)$(grep -c '^livepatch_' /proc/modules)" "0"
            """, timeout: 360, files: files)
        assertPassed(outcome, [
            "nomem-exit", "nomem-names-errno", "nomem-nothing-left", "nomem-lock-free",
            "nosym-exit", "nosym-names-errno", "nosym-kernel-says", "nosym-nothing-left", "nosym-status",
            "late-insmod-blocker", "late-in-transition", "late-victim-absent", "late-insmod-mid-transition",
            "late-victim-patched-on-load", "late-still-in-transition", "late-kernel-applied", "late-status-victim",
            "late-status-transition", "late-rmmod-mid-transition", "late-victim-unpatched-on-removal",
            "late-still-in-transition-after-rmmod", "late-kernel-reverted", "late-status-not-loaded", "late-insmod-again",
            "late-victim-patched-again", "late-reader-old-code", "late-apply-exit", "late-applied", "late-blocker-new-code",
            "late-victim-new-code", "applied-rmmod", "applied-victim-unpatched", "applied-patch-stays", "applied-status",
            "applied-insmod-again", "applied-victim-fixed-again", "patch-rmmod-refused", "patch-rmmod-changes-nothing",
            "late-revert", "late-nothing-left", "late-victim-old-code", "late-rmmod-blocker",
            "busy-sum-apply", "followed-second-apply-exit", "followed-second-apply-names-holder", "followed-revert-exit",
            "followed-revert-names-holder", "no-revert-exit", "no-revert-left-running", "status-unfollowed",
            "unfollowed-second-apply-exit", "unfollowed-second-apply-names-transition", "unfollowed-second-apply-nothing-left",
            "kernel-ebusy-refused", "kernel-ebusy-errno", "kernel-ebusy-nothing-left", "sysfs-ebusy",
            "revert-other-refused-exit", "revert-other-names-transition", "revert-other-changes-nothing",
            "revert-other-lock-free", "stalled-revert-exit", "stalled-revert-nothing-left", "busy-reader-old-code",
            "busy-sum-revert", "end-nothing-loaded"])
    }
}
