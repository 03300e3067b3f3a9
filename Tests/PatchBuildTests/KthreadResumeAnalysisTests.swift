import XCTest
import TestSupport
import PatchModel
import KthreadSafety
@testable import PatchBuild

/// Where the pinned kernel's kthreads sleep in their thread functions, worked out
/// from the debug vmlinux (objdump, DWARF, the kernel's jump/exception/alternative
/// tables). The offsets are those the kthreads showed in /proc/PID/stack in the
/// test VM (examples/vmlinux/kthread-survey/guest-kthreads.json).
final class KthreadResumeAnalysisTests: XCTestCase {
    private static let graph = Result { () throws -> CallGraph in
        let bed = TestBed.shared
        return try CallGraphCache.graph(for: bed.debugVmlinux.path, cacheDirectory: bed.buildCache.appendingPathComponent("callgraph"))
    }

    private func points(_ function: String) throws -> KthreadResumePoints {
        let graph = try Self.graph.get()
        let spawn = try XCTUnwrap(graph.kthreadSpawns.first { graph.name(of: Int($0.entry)) == function }, "\(function) is a static kthread entry")
        let analysis = KthreadResumeAnalysis(vmlinux: TestBed.shared.debugVmlinux.path, cacheDirectory: nil)
        let points = try XCTUnwrap(analysis.points(function: function, address: spawn.address), "\(analysis.failures)")
        XCTAssertTrue(analysis.failures.isEmpty, "\(analysis.failures)")
        return points
    }

    /// khungtaskd sleeps at watchdog+0x7c: set_user_nice (its prologue) cannot run again, the hung-task check can.
    /// watchdog has a cold part (DW_AT_ranges, no DW_AT_low_pc): it is found as a kthread entry all the same.
    func testKhungtaskdLoopLeavesItsPrologueBehind() throws {
        let watchdog = try points("watchdog")
        let asleep = try XCTUnwrap(watchdog.points[0x7c])
        XCTAssertFalse(asleep.contains("set_user_nice"), "\(asleep)")
        XCTAssertTrue(asleep.contains("check_hung_uninterruptible_tasks"), "\(asleep)")
        XCTAssertTrue(asleep.contains("schedule_timeout_interruptible"), "\(asleep)")
        // From the prologue's first call the whole function is ahead.
        let start = try XCTUnwrap(watchdog.points.min { $0.key < $1.key }?.value)
        XCTAssertTrue(start.contains("set_user_nice"), "\(start)")
    }

    /// kauditd sleeps at kauditd_thread+0x1ce, inside its loop: it sends its queues again.
    func testKauditdLoopStillSends() throws {
        let asleep = try XCTUnwrap(try points("kauditd_thread").points[0x1ce])
        XCTAssertTrue(asleep.contains("kauditd_send_queue"), "\(asleep)")
    }

    /// khugepaged sleeps at khugepaged+0x5bf: it scans again, but never renices itself again.
    func testKhugepagedLoopLeavesItsPrologueBehind() throws {
        let asleep = try XCTUnwrap(try points("khugepaged").points[0x5bf])
        XCTAssertFalse(asleep.contains("set_user_nice"), "\(asleep)")
        XCTAssertTrue(asleep.contains("khugepaged_do_scan"), "\(asleep)")
    }

    /// kswapd sleeps at kswapd+0x380 (in kswapd_try_to_sleep, inlined): the calls made inside the inlined body
    /// are hops too (its frame makes them): prepare_kswapd_sleep, besides the body itself.
    func testCallsInsideInlinedBodiesAreHops() throws {
        let asleep = try XCTUnwrap(try points("kswapd").points[0x380])
        XCTAssertTrue(asleep.contains("kswapd_try_to_sleep"), "\(asleep)")
        XCTAssertTrue(asleep.contains("prepare_kswapd_sleep"), "\(asleep)")
        XCTAssertTrue(try points("kswapd").inlinedBodyCalls.contains("prepare_kswapd_sleep"))
    }

    /// What cannot be worked out is recorded and gives no points (the whole function then counts).
    func testFailuresAreNamedAndGiveNoPoints() throws {
        let bed = TestBed.shared
        let noFunction = KthreadResumeAnalysis(vmlinux: bed.debugVmlinux.path, cacheDirectory: nil)
        XCTAssertNil(noFunction.points(function: "not_a_thread_fn", address: 0xffffffff81000001))
        XCTAssertEqual(noFunction.failures, ["not_a_thread_fn: no DWARF subprogram at 0xffffffff81000001"])
        // A file without DWARF (the stripped release binary).
        let noDwarf = KthreadResumeAnalysis(vmlinux: bed.releaseBinary.path, cacheDirectory: nil)
        XCTAssertNil(noDwarf.points(function: "watchdog", address: 0x1000))
        XCTAssertEqual(noDwarf.failures.count, 1)
        XCTAssertTrue(noDwarf.failures[0].hasPrefix("watchdog: "), "\(noDwarf.failures)")
    }
}
