import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// Trace lines as the kpatchctl tracefs instance records them, and how they
/// turn into per-task switches.
final class SwitchEventTests: XCTestCase {
    let trace = """
        # tracer: nop
        #
        #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
        #              | |         |   |||||     |         |
                   sh-101     [000] d..1.   100.000100: user_return: (klp_update_patch_state+0x0/0x50)
          kworker/1:2-55      [001] d..2.   100.100000: stack_check: (klp_check_and_switch_task+0x0/0x90) pid=42
          kworker/1:2-55      [001] d..2.   100.100050: stack_check_ret: (task_call_func+0x8a/0x100 <- klp_check_and_switch_task) ret=-16
          kworker/1:2-55      [001] d..2.   101.100000: stack_check: (klp_check_and_switch_task+0x0/0x90) pid=42
          kworker/1:2-55      [001] d..2.   101.100050: stack_check_ret: (task_call_func+0x8a/0x100 <- klp_check_and_switch_task) ret=0
           my prog-7-7     [000] d..1.   100.500000: user_return: (klp_update_patch_state+0x0/0x50)
                   sh-101     [000] d..1.   102.000000: user_return: (klp_update_patch_state+0x0/0x50)
        """

    func testParsesEveryEventLine() {
        let events = SwitchEvent.parse(trace)
        XCTAssertEqual(events.count, 7)
        XCTAssertEqual(events[0], SwitchEvent(tid: 101, time: 100.0001, kind: .userReturn))
        XCTAssertEqual(events[1].kind, .stackCheckEntry(checkedTid: 42))
        XCTAssertEqual(events[2].kind, .stackCheckReturn(result: -16))
        XCTAssertEqual(events[5].tid, 7)  // comm "my prog-7"
    }

    func testSwitchesPairChecksAndKeepTheFirstUserReturn() {
        let switches = SwitchEvent.switches(SwitchEvent.parse(trace))
        XCTAssertEqual(switches[101]?.path, .userReturn)
        XCTAssertEqual(switches[101]?.time, 100.0001)
        XCTAssertEqual(switches[42]?.path, .stackCheck)
        XCTAssertEqual(switches[42]?.time, 101.10005)  // the failed check (-EBUSY) does not count
        XCTAssertEqual(switches[7]?.path, .userReturn)
        XCTAssertNil(switches[55])
    }

    func testLastStackCheckPerTask() {
        let events = SwitchEvent.parse(trace)
        XCTAssertEqual(SwitchEvent.lastStackChecks(events), [42: 0])
        XCTAssertEqual(SwitchEvent.lastStackChecks(Array(events.prefix(3))), [42: -16])  // up to the failed check
        XCTAssertEqual(TransitionBlockers.stackCheckReason(-98), "EADDRINUSE: a patched function is on its stack")
    }

    func testRecordSummaries() {
        var record = TransitionRecord(patch: "p", direction: .patching, startedAt: 0, tracking: "tracefs")
        record.switches = [
            TaskSwitch(pid: 1, tid: 1, comm: "a", kthread: false, path: .userReturn, traced: true, seconds: 0.1),
            TaskSwitch(pid: 2, tid: 2, comm: "b", kthread: true, path: .stackCheck, traced: true, seconds: 1.5),
            TaskSwitch(pid: 3, tid: 3, comm: "c", kthread: true, path: .stackCheck, traced: false, seconds: 0.2),
        ]
        XCTAssertEqual(record.countsByPath, ["user-return": 1, "stack-check": 2])
        XCTAssertEqual(record.slowest(2).map(\.tid), [2, 3])
    }
}
