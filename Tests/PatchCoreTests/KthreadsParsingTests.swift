import XCTest
@testable import PatchCore

/// /proc/PID/stat and /proc/PID/stack parsing, on text as the 6.1 kernel prints it.
final class KthreadsParsingTests: XCTestCase {
    static let tickStat = "212 (kpvictim_tick) S 2 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 480 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    static let tickStack = """
        [<0>] msleep_interruptible+0x39/0x60
        [<0>] kpvictim_tick_fn+0x27/0x40 [kpvictim]
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

    func testProcReaderOnAFixtureTree() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kpatch-proc-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        for (pid, stat, stack) in [(212, Self.tickStat, Self.tickStack),
                                   (300, "300 (sh) S 1 300 300 0 -1 4194560 0 0 0\n", "")] {
            let dir = root.appendingPathComponent(String(pid))
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try stat.write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
            try stack.write(to: dir.appendingPathComponent("stack"), atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("self"), withIntermediateDirectories: true)
        let threads = try ProcKthreads.read(procRoot: root)
        XCTAssertEqual(threads.map(\.pid), [212])
        XCTAssertEqual(threads.first?.entry, "kpvictim_tick_fn")
    }
}
