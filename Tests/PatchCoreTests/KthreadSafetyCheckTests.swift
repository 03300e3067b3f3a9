import XCTest
@testable import PatchCore

/// The apply-time decision, from the kpvictim module's real call graph and
/// kthreads parsed from /proc text.
final class KthreadSafetyCheckTests: XCTestCase {
    private func kpvictimReachability(_ targets: [String]) throws -> KthreadReachability {
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path)
        return try KthreadReachability(graph: graph, targets: targets)
    }

    private var tick: LiveKthread {
        LiveKthread(pid: 212, comm: "kpvictim_tick", stack: ProcStack.parse(KthreadsParsingTests.tickStack))
    }
    private var kworker: LiveKthread {
        LiveKthread(pid: 7, comm: "kworker/0:1", stack: ProcStack.parse(KthreadsParsingTests.kworkerStack))
    }

    func testUnconvertedKthreadReachingPatchedFunctionIsRefusedWithPath() throws {
        let report = KthreadSafetyCheck(reachability: try kpvictimReachability(["kpvictim_tick_once"])).evaluate([tick, kworker])
        XCTAssertFalse(report.safe)
        XCTAssertEqual(report.refusals.count, 1)
        let refusal = try XCTUnwrap(report.refusals.first)
        XCTAssertEqual(refusal.pid, 212)
        XCTAssertEqual(refusal.comm, "kpvictim_tick")
        XCTAssertEqual(refusal.entry, "kpvictim_tick_fn")
        XCTAssertEqual(refusal.reason, .reachesPatchedFunction)
        XCTAssertEqual(refusal.path.map(\.name), ["kpvictim_tick_fn", "kpvictim_tick_once"])
        XCTAssertTrue(refusal.description.contains("kpvictim_tick_fn -> kpvictim_tick_once"), refusal.description)
        XCTAssertTrue(refusal.description.contains("--allow-kthread kpvictim_tick"), refusal.description)
        XCTAssertEqual(report.checked, 2)
    }

    func testUnreachablePatchIsSafe() throws {
        let report = KthreadSafetyCheck(reachability: try kpvictimReachability(["kpvictim_sum"])).evaluate([tick, kworker])
        XCTAssertTrue(report.safe)
        XCTAssertTrue(report.allowed.isEmpty)
    }

    func testConvertedKthreadIsNotRefusedForReachability() throws {
        // A kworker whose entry is worker_thread: even a patch to worker_thread's callees is fine.
        var reach = try kpvictimReachability(["kpvictim_tick_once"])
        reach.functions.append(.init(name: "worker_thread", unit: "kernel/workqueue.c", next: 0, kind: .call))
        XCTAssertTrue(KthreadSafetyCheck(reachability: reach).evaluate([kworker]).safe)
    }

    func testKthreadAsleepInPatchedFunctionIsRefusedEvenWhenConverted() throws {
        let sleeping = LiveKthread(pid: 9, comm: "kworker/1:0", stack: ProcStack.parse("""
            [<0>] msleep_interruptible+0x39/0x60
            [<0>] worker_thread+0xb8/0x3c0
            [<0>] kthread+0xe8/0x110
            [<0>] ret_from_fork+0x22/0x30
            """))
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path)
        let reach = try KthreadReachability(graph: graph, targets: ["msleep_interruptible"])
        let report = KthreadSafetyCheck(reachability: reach).evaluate([sleeping])
        XCTAssertEqual(report.refusals.map(\.reason), [.asleepInPatchedFunction])
        XCTAssertEqual(report.refusals.first?.frame?.function, "msleep_interruptible")
    }

    func testOverridesAreReportedAsAllowed() throws {
        let reach = try kpvictimReachability(["kpvictim_tick_once"])
        let byComm = KthreadSafetyCheck(reachability: reach, allowComms: ["kpvictim_tick"]).evaluate([tick])
        XCTAssertTrue(byComm.safe)
        XCTAssertEqual(byComm.allowed.map(\.allowedBy), ["--allow-kthread kpvictim_tick"])
        let otherComm = KthreadSafetyCheck(reachability: reach, allowComms: ["kswapd0"]).evaluate([tick])
        XCTAssertFalse(otherComm.safe)
        let all = KthreadSafetyCheck(reachability: reach, allowAll: true).evaluate([tick])
        XCTAssertTrue(all.safe)
        XCTAssertEqual(all.allowed.map(\.allowedBy), ["--allow-all-kthreads"])
        XCTAssertTrue(all.allowed[0].description.contains("Allowed by --allow-all-kthreads"))
    }

    func testSeveralObjectsOfOnePatchAreCheckedTogether() throws {
        // A patch touching the module's /proc helper and its tick helper, analysed as two objects.
        let sum = try kpvictimReachability(["kpvictim_sum"]), tickOnce = try kpvictimReachability(["kpvictim_tick_once"])
        XCTAssertTrue(KthreadSafetyCheck(reachabilities: [sum]).evaluate([tick]).safe)
        let report = KthreadSafetyCheck(reachabilities: [sum, tickOnce]).evaluate([tick])
        XCTAssertEqual(report.refusals.map { $0.path.map(\.name) }, [["kpvictim_tick_fn", "kpvictim_tick_once"]])
    }

    func testUnknownEntryIsListed() throws {
        let running = LiveKthread(pid: 15, comm: "ksoftirqd/1", stack: [])
        let report = KthreadSafetyCheck(reachability: try kpvictimReachability(["kpvictim_tick_once"])).evaluate([running])
        XCTAssertEqual(report.unknownEntry, [.init(pid: 15, comm: "ksoftirqd/1")])
        XCTAssertTrue(report.safe)
    }

    func testReportIsCodable() throws {
        let report = KthreadSafetyCheck(reachability: try kpvictimReachability(["kpvictim_tick_once"])).evaluate([tick])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let decoded = try JSONDecoder().decode(KthreadSafetyReport.self, from: encoder.encode(report))
        XCTAssertEqual(decoded, report)
    }
}
