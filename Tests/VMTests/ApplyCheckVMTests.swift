import XCTest
import TestSupport

/// `apply --check` with a user task asleep in the function a patch replaces:
/// the task and its frame are named, the exit is 6 (stall predicted), nothing loads.
final class ApplyCheckVMTests: RuntimeVMTestCase {
    func testCheckNamesTheSleepingReaderAndLoadsNothing() throws {
        let outcome = try boot("apply-check", """
            check insmod-kpvictim insmod /payload/kpvictim.ko
            out=$(kpatchctl apply --check /payload/livepatch_wait.ko 2>&1); rc=$?
            echo "$out"
            expect_eq idle-check-exit "$rc" 0
            cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
            wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
            out=$(kpatchctl apply --check /payload/livepatch_wait.ko 2>&1); rc=$?
            echo "$out"
            expect_eq check-stall-exit "$rc" 6
            expect_match check-names-reader "$out" "pid $reader tid $reader cat \\\\(user\\\\) is in replaced function kpvictim_wait_show\\\\+0x[0-9a-f]+/0x[0-9a-f]+ \\\\[kpvictim\\\\]"
            out=$(kpatchctl apply --check --json /payload/livepatch_wait.ko); rc=$?
            expect_eq check-json-exit "$rc" 6
            flat=$(echo "$out" | tr -d ' \\n')
            expect_match check-json-verdict "$flat" '"verdict":"stallPredicted"'
            expect_match check-json-task "$flat" "\\"comm\\":\\"cat\\".*\\"function\\":\\"kpvictim_wait_show\\".*\\"pid\\":$reader"
            expect_eq check-loads-nothing "$(ls /sys/kernel/livepatch)" ""
            if grep -q livepatch_wait /proc/modules; then fail check-no-module "livepatch_wait in /proc/modules"; else pass check-no-module; fi
            echo go > /proc/kpvictim_release
            wait_for 5 sh -c "! kill -0 $reader"
            expect_eq reader-released "$(cat /tmp/reader.out)" "released"
            """)
        assertPassed(outcome, ["insmod-kpvictim", "idle-check-exit", "check-stall-exit", "check-names-reader", "check-json-exit",
                               "check-json-verdict", "check-json-task", "check-loads-nothing", "check-no-module", "reader-released"])
    }
}
