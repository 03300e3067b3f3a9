import XCTest
import TestSupport

/// Boots the pinned kernel and checks the test bed itself: the release, the
/// livepatch core, the kpvictim demo module and kpatchctl in the guest.
final class SmokeTests: XCTestCase {
    func testGuestBootsPinnedKernelAndRunsKpvictim() throws {
        let bed = TestBed.shared
        let victim = try KbuildModule().build("kpvictim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let vm = TestVM()
        let payload = try vm.payload("smoke", script: """
            expect_eq uname-release "$(uname -r)" "\(bed.kernelRelease)"
            check livepatch-sysfs test -d /sys/kernel/livepatch
            check insmod-kpvictim insmod /payload/kpvictim.ko
            expect_eq buggy-sum "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            t1=$(sed -n 's/ticks = //p' /proc/kpvictim); sleep 1
            t2=$(sed -n 's/ticks = //p' /proc/kpvictim)
            if [ "$t2" -gt "$t1" ]; then pass ticks-advance; else fail ticks-advance "$t1 -> $t2"; fi
            cat /proc/kpvictim_wait > /tmp/wait.out & reader=$!
            sleep 1
            if kill -0 $reader 2>/dev/null; then pass wait-blocks; else fail wait-blocks "reader returned early"; fi
            expect_match reader-sleeps-in-helper "$(cat /proc/$reader/stack)" "kpvictim_wait_release"
            echo go > /proc/kpvictim_release
            wait_for 5 sh -c "! kill -0 $reader"
            wait $reader
            expect_eq wait-released "$(cat /tmp/wait.out)" "released"
            check kpatchctl-help kpatchctl --help
            expect_match kpatchctl-lists-subcommands "$(kpatchctl --help)" "SUBCOMMANDS"
            """, files: ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko")])
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 120)
        XCTAssertChecksPassed(outcome, ["uname-release", "livepatch-sysfs", "insmod-kpvictim", "buggy-sum", "ticks-advance",
                     "wait-blocks", "reader-sleeps-in-helper", "wait-released", "kpatchctl-help"])
    }
}
