import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// Parsers of /proc/<pid>/task/<tid>/{stat,stack} on text as 6.1 prints it.
final class TaskParsingTests: XCTestCase {
    func testStatOfKthread() throws {
        let text = "42 (kpvictim_tick) S 2 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 1183 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        let stat = try ProcStat(parsing: text)
        XCTAssertEqual(stat.pid, 42)
        XCTAssertEqual(stat.comm, "kpvictim_tick")
        XCTAssertEqual(stat.state, "S")
        XCTAssertTrue(stat.isKthread)  // 2129984 = 0x208040: PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC
    }

    func testStatOfUserTaskWithAwkwardComm() throws {
        let text = "777 (a) b (c) R 1 777 777 34816 777 4194560 100 0 0 0 0 0 0 0 20 0 1 0 500 1000 10 18446744073709551615\n"
        let stat = try ProcStat(parsing: text)
        XCTAssertEqual(stat.comm, "a) b (c")
        XCTAssertEqual(stat.state, "R")
        XCTAssertFalse(stat.isKthread)  // 4194560 = 0x400100: PF_RANDOMIZE | PF_SUPERPRIV
    }

    func testStatRejectsTruncatedText() {
        XCTAssertThrowsError(try ProcStat(parsing: "12 (x) S 1 2"))
        XCTAssertThrowsError(try ProcStat(parsing: "garbage"))
    }

    func testStackFrames() {
        let text = """
            [<0>] kpvictim_wait_release+0x5c/0x90 [kpvictim]
            [<0>] kpvictim_wait_show+0xe/0x30 [kpvictim]
            [<0>] seq_read_iter+0x124/0x4b0
            [<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8

            """
        let frames = StackFrame.parseStack(text)
        XCTAssertEqual(frames.count, 4)
        XCTAssertEqual(frames[0], StackFrame(function: "kpvictim_wait_release", offset: 0x5c, size: 0x90, module: "kpvictim"))
        XCTAssertEqual(frames[2], StackFrame(function: "seq_read_iter", offset: 0x124, size: 0x4b0, module: nil))
        XCTAssertEqual(frames[1].description, "kpvictim_wait_show+0xe/0x30 [kpvictim]")
        XCTAssertNil(StackFrame(line: "[<0>] 0xffffffffc0a01234"))
    }

    func testPatchedFramesMatchOldAndNewFunctions() {
        let stack = StackFrame.parseStack("""
            [<0>] kpvictim_wait_release+0x5c/0x90 [kpvictim]
            [<0>] kpvictim_wait_show+0xe/0x30 [kpvictim]
            [<0>] livepatch_kpvictim_sum+0x5/0x20 [livepatch_sum]
            [<0>] kpvictim_wait_show+0xe/0x30 [kpvictim]
            """)
        XCTAssertEqual(TransitionBlockers.patchedFrames(stack, functions: ["kpvictim_wait_show"], patchModule: "livepatch_x"),
                       ["kpvictim_wait_show"])
        XCTAssertEqual(TransitionBlockers.patchedFrames(stack, functions: [], patchModule: "livepatch_sum"),
                       ["livepatch_kpvictim_sum"])
        // A replacement symbol of kpatchctl's builder is named by the function it replaces.
        let built = StackFrame.parseStack("[<0>] klp_new_kpvictim_wait_show+0x5/0x20 [livepatch_wait]\n")
        XCTAssertEqual(TransitionBlockers.patchedFrames(built, functions: [], patchModule: "livepatch_wait",
                                                        newCode: ["klp_new_kpvictim_wait_show": "kpvictim_wait_show"]),
                       ["kpvictim_wait_show (new code)"])
    }

    func testReplacementNamesCoverSysfsSymposOne() {
        let patch = LivepatchPatch(name: "p", enabled: true, transition: true, objects: [
            LivepatchObject(name: "kpvictim", patched: true, functions: [
                LivepatchFunction(name: "kpvictim_sum.constprop.0", sympos: 1), LivepatchFunction(name: "s_show", sympos: 2)]),
        ])
        XCTAssertEqual(patch.replacementNames["klp_new_kpvictim_sum_constprop_0"], "kpvictim_sum.constprop.0")
        XCTAssertEqual(patch.replacementNames["klp_new_s_show_2"], "s_show")
    }

    func testBlockingFollowsTheDirection() {
        let task = { (state: PatchState) in KernelTask(pid: 1, tid: 1, comm: "x", isKthread: false, patchState: state) }
        XCTAssertTrue(TransitionBlockers.isBlocking(task(.unpatched), direction: .patching))
        XCTAssertFalse(TransitionBlockers.isBlocking(task(.patched), direction: .patching))
        XCTAssertTrue(TransitionBlockers.isBlocking(task(.patched), direction: .unpatching))
        XCTAssertFalse(TransitionBlockers.isBlocking(task(.idle), direction: .unpatching))
    }
}
