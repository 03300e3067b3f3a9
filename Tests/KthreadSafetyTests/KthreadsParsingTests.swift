import TestSupport
import XCTest
@testable import KthreadSafety
@testable import PatchModel

/// /proc/PID/stat and /proc/PID/stack parsing, on text as the 6.1 kernel prints it.
final class KthreadsParsingTests: XCTestCase {
    static let tickStat = ProcFixtures.tickStat
    static let tickStack = ProcFixtures.tickStack
    /// A kworker asleep inside a work item.
    static let busyKworkerStack = """
        [<0>] msleep_interruptible+0x39/0x60
        [<0>] process_one_work+0x1c4/0x380
        [<0>] worker_thread+0xb8/0x3c0
        [<0>] kthread+0xe8/0x110
        [<0>] ret_from_fork+0x22/0x30
        """
    static let kworkerStack = """
        [<0>] worker_thread+0xb8/0x3c0
        [<0>] kthread+0xe8/0x110
        [<0>] ret_from_fork+0x22/0x30

        """

    func testStatOfKthreadWithPlainComm() throws {
        let stat = try ProcStat(parsing: Self.tickStat)
        XCTAssertEqual(stat.pid, 212)
        XCTAssertEqual(stat.comm, "kpvictim_tick")
        XCTAssertEqual(stat.state, "S")
        XCTAssertEqual(stat.ppid, 2)
        XCTAssertEqual(stat.flags, 2129984)
        XCTAssertTrue(stat.isKthread)
    }

    func testCommWithSpacesAndParentheses() throws {
        let stat = try ProcStat(parsing: "4242 (a (b) c) d) R 1 4242 4242 34816 4242 4194304 1 2 3\n")
        XCTAssertEqual(stat.comm, "a (b) c) d")
        XCTAssertEqual(stat.state, "R")
        XCTAssertEqual(stat.ppid, 1)
        XCTAssertFalse(stat.isKthread, "4194304 is PF_RANDOMIZE-like user flags, without PF_KTHREAD")
    }

    func testMalformedStatThrows() {
        XCTAssertThrowsError(try ProcStat(parsing: "garbage"))
        XCTAssertThrowsError(try ProcStat(parsing: "12 (x) S 1"))
        XCTAssertThrowsError(try ProcStat(parsing: "12 (x) S one 0 0 0 0 flags"))
    }

    func testStackFramesStripOffsetsAndModule() {
        let frames = ProcStack.parse(Self.tickStack)
        XCTAssertEqual(frames.count, 4)
        XCTAssertEqual(frames[1], StackFrame(function: "kpvictim_tick_fn", offset: 0x27, size: 0x40, module: "kpvictim"))
        XCTAssertEqual(frames[0].module, nil)
        XCTAssertEqual(ProcStack.threadFunction(of: frames), "kpvictim_tick_fn")
    }

    func testCloneSuffixIsRemovedFromTheFunctionName() {
        let frames = ProcStack.parse("[<0>] rcu_gp_kthread.isra.0+0x10/0x200\n[<0>] kthread+0xe8/0x110\n[<0>] ret_from_fork+0x22/0x30\n")
        XCTAssertEqual(frames[0].function, "rcu_gp_kthread.isra.0")
        XCTAssertEqual(ProcStack.threadFunction(of: frames), "rcu_gp_kthread")
    }

    func testKthreaddHasNoKthreadFrame() {
        let frames = ProcStack.parse("[<0>] kthreadd+0x2a5/0x2e0\n[<0>] ret_from_fork+0x22/0x30\n")
        XCTAssertEqual(ProcStack.threadFunction(of: frames), "kthreadd")
    }

    func testEmptyOrTopmostKthreadStackHasNoEntry() {
        XCTAssertNil(ProcStack.threadFunction(of: ProcStack.parse("")))
        XCTAssertNil(ProcStack.threadFunction(of: ProcStack.parse("[<0>] kthread+0xe8/0x110\n[<0>] ret_from_fork+0x22/0x30\n")))
    }

    func testClassification() throws {
        let tick = try XCTUnwrap(try LiveKthread(statText: Self.tickStat, stackText: Self.tickStack))
        XCTAssertEqual(tick.entry, "kpvictim_tick_fn")
        XCTAssertFalse(tick.converted)
        let worker = LiveKthread(pid: 7, comm: "kworker/0:1", stack: ProcStack.parse(Self.kworkerStack))
        XCTAssertEqual(worker.entry, "worker_thread")
        XCTAssertTrue(worker.converted)
        let user = "300 (sh) S 1 300 300 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0\n"
        XCTAssertNil(try LiveKthread(statText: user, stackText: ""))
    }

    /// Stacks as /proc/PID/stack showed them in the pinned kernel (QEMU guest);
    /// irq/9-acpi's is written by hand in the same shape (the guest has no irq thread).
    static let guestStacks: [(comm: String, stack: String)] = [
        ("kthreadd", "[<0>] kthreadd+0x2bc/0x2d0\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("ksoftirqd/0", "[<0>] smpboot_thread_fn+0x147/0x1d0\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("kworker/0:1", "[<0>] worker_thread+0xaf/0x380\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("rcu_gp", "[<0>] rescuer_thread+0x2ae/0x3a0\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("irq/9-acpi", "[<0>] irq_thread+0xd7/0x1a0\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("kauditd", "[<0>] kauditd_thread+0x1ce/0x2d0\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
        ("rcu_preempt", "[<0>] rcu_gp_fqs_loop+0x141/0x560\n[<0>] rcu_gp_kthread+0xd8/0x1b0\n[<0>] kthread+0xda/0x100\n[<0>] ret_from_fork+0x22/0x30\n"),
    ]

    func testGenericLoopsAreConvertedWithTheirReason() {
        let expected = ["kthreadd": true, "ksoftirqd/0": true, "kworker/0:1": true, "rcu_gp": true, "irq/9-acpi": true,
                        "kauditd": false, "rcu_preempt": false]
        for (comm, text) in Self.guestStacks {
            let thread = LiveKthread(pid: 1, comm: comm, stack: ProcStack.parse(text))
            XCTAssertEqual(thread.converted, expected[comm], comm)
            XCTAssertEqual(thread.conversion.kind, expected[comm]! ? .converted : .unconverted, comm)
            let expectedReason = KthreadConversion.loop(entry: thread.entry!)?.reason
                ?? "\(thread.entry!) is not generic dispatch code: its own loop may hold state across iterations"
            XCTAssertEqual(thread.conversion.reason, expectedReason, comm)
            // Idle, so every frame stays while it waits.
            XCTAssertEqual(thread.residentFrames, thread.stack, comm)
        }
        XCTAssertEqual(Set(KthreadConversion.genericLoops.map(\.entry)),
                       ["worker_thread", "rescuer_thread", "kthread_worker_fn", "smpboot_thread_fn", "irq_thread", "kthreadd"])
    }

    func testConvertedKthreadInsideAUnitOfWorkKeepsOnlyTheLoopResident() {
        let busy = LiveKthread(pid: 9, comm: "kworker/1:0", stack: ProcStack.parse(Self.busyKworkerStack))
        XCTAssertEqual(busy.residentFrames.map(\.function), ["worker_thread", "kthread", "ret_from_fork"])
        // An irq thread waiting in irq_wait_for_interrupt is idle, not inside a handler.
        let irq = LiveKthread(pid: 60, comm: "irq/24-pciehp", stack: ProcStack.parse("""
            [<0>] irq_wait_for_interrupt+0x40/0x90
            [<0>] irq_thread+0xd7/0x1a0
            [<0>] kthread+0xda/0x100
            [<0>] ret_from_fork+0x22/0x30
            """))
        XCTAssertEqual(irq.residentFrames, irq.stack)
    }

    func testUnknownEntrySaysWhy() {
        XCTAssertTrue(LiveKthread(pid: 15, comm: "rcu_preempt", stack: []).conversion.reason.contains("running on a CPU"))
        let unreadable = LiveKthread(pid: 15, comm: "rcu_preempt", stack: [], stackError: "permission denied")
        XCTAssertEqual(unreadable.conversion.kind, .unknown)
        XCTAssertTrue(unreadable.conversion.reason.contains("unreadable: permission denied"), unreadable.conversion.reason)
        XCTAssertTrue(unreadable.residentFrames.isEmpty)
    }
}
