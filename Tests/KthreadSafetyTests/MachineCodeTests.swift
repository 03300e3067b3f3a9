import TestSupport
import XCTest
@testable import KthreadSafety
@testable import PatchModel

/// The objdump listing parser and the control flow over it, on listing text in
/// objdump's format (the host test on the debug vmlinux is in PatchBuildTests).
final class MachineCodeTests: XCTestCase {
    /// A thread function shaped like khungtaskd's `watchdog`: a prologue call, then a loop.
    static let listing = """

        ffffffff811a5410 <watchdog>:
        ffffffff811a5410:\tcall   ffffffff81076650 <__fentry__>
        ffffffff811a5415:\tpush   %r15
        ffffffff811a5442:\tcall   ffffffff810dd8e0 <set_user_nice>
        ffffffff811a5447:\tmov    0x1a97782(%rip),%rbp        # ffffffff82c3cbd0 <sysctl_hung_task_timeout_secs>
        ffffffff811a5469:\tje     ffffffff811a548e <watchdog+0x7e>
        ffffffff811a546b:\tcall   ffffffff810a1a20 <test_taint>
        ffffffff811a5470:\tnopl   0x0(%rax,%rax,1)
        ffffffff811a5475:\tjmp    ffffffff811a5480 <watchdog+0x70>
        ffffffff811a5477:\tcall   ffffffff81a0c967 <check_hung_uninterruptible_tasks>
        ffffffff811a547c:\tjmp    ffffffff811a5447 <watchdog+0x37>
        ffffffff811a5480:\tcall   ffffffff81a58750 <schedule_timeout_interruptible>
        ffffffff811a5485:\tjmp    ffffffff811a5447 <watchdog+0x37>
        ffffffff811a548e:\tjmp    ffffffff811a5490 <watchdog+0x80>
        ffffffff811a5490:\tjmp    ffffffff81a00000 <__x86_return_thunk>
        ffffffff811a5495:\tint3

        """

    private var flow: ControlFlow {
        ControlFlow(instructions: ObjdumpListing.instructions(Self.listing, rangeEnd: 0xffffffff811a5496),
                    ranges: [0xffffffff811a5410..<0xffffffff811a5496])
    }

    func testListingParsesFlowKinds() {
        let instructions = ObjdumpListing.instructions(Self.listing, rangeEnd: 0xffffffff811a5496)
        XCTAssertEqual(instructions.count, 15)
        XCTAssertEqual(instructions[0], Instruction(address: 0xffffffff811a5410, end: 0xffffffff811a5415, flow: .next, isCall: true))
        XCTAssertEqual(instructions[4].flow, .branch(0xffffffff811a548e))
        XCTAssertEqual(instructions[7].flow, .jump(0xffffffff811a5480))
        XCTAssertEqual(instructions[13].flow, .stop, "jmp __x86_return_thunk is a return")
        XCTAssertEqual(instructions[14].flow, .stop)
        XCTAssertEqual(instructions[14].end, 0xffffffff811a5496)
        XCTAssertEqual(ObjdumpListing.flow(of: "jmp    ffffffff81e03e80 <__x86_indirect_thunk_rax>"), .unknown)
        XCTAssertEqual(ObjdumpListing.flow(of: "notrack jmp *%rax"), .unknown)
        XCTAssertEqual(ObjdumpListing.flow(of: "ret"), .stop)
        XCTAssertEqual(ObjdumpListing.flow(of: "call   *%rax"), .next)
        XCTAssertEqual(ObjdumpListing.flow(of: "ud2"), .next, "WARN continues after its ud2")
        XCTAssertEqual(ObjdumpListing.flow(of: "(bad)"), .unknown)
    }

    func testLoopDoesNotReachThePrologue() throws {
        // Asleep in schedule_timeout_interruptible (returns to +0x75).
        let reached = try XCTUnwrap(flow.reachable(from: 0xffffffff811a5485))
        XCTAssertFalse(reached.contains(0xffffffff811a5442), "set_user_nice runs only before the loop")
        XCTAssertTrue(reached.contains(0xffffffff811a546b), "test_taint is in the loop")
        XCTAssertTrue(reached.contains(0xffffffff811a5480), "the sleep itself comes round again")
        XCTAssertFalse(reached.contains(0xffffffff811a5477), "nothing jumps to check_hung_uninterruptible_tasks' call")
        XCTAssertTrue(try XCTUnwrap(flow.reachable(from: 0xffffffff811a5410)).contains(0xffffffff811a5442))
    }

    func testHiddenEdgesAndUnknownFlow() throws {
        // A static branch at the nop may jump to the check: the hidden edge makes it reachable.
        let withKey = ControlFlow(instructions: ObjdumpListing.instructions(Self.listing, rangeEnd: 0xffffffff811a5496),
                                  ranges: [0xffffffff811a5410..<0xffffffff811a5496],
                                  extraEdges: [(0xffffffff811a5470, 0xffffffff811a5477)])
        XCTAssertTrue(try XCTUnwrap(withKey.reachable(from: 0xffffffff811a5485)).contains(0xffffffff811a5477))
        // A jump into the middle of an instruction of the function: the flow is not known.
        let broken = ControlFlow(instructions: [
            Instruction(address: 0x100, end: 0x105, flow: .jump(0x107), isCall: false),
            Instruction(address: 0x105, end: 0x10a, flow: .stop, isCall: false),
        ], ranges: [0x100..<0x10a])
        XCTAssertNil(broken.reachable(from: 0x100))
        // A jump out of the function is a tail call.
        let tail = ControlFlow(instructions: [Instruction(address: 0x100, end: 0x105, flow: .jump(0x900), isCall: false)],
                               ranges: [0x100..<0x105])
        XCTAssertEqual(tail.reachable(from: 0x100), [0x100])
    }

    func testResumePointsKeepOnlyWhatCanRunAgain() {
        let layout = FunctionLayout(name: "watchdog", entry: 0xffffffff811a5410, ranges: [0xffffffff811a5410..<0xffffffff811a5496], hops: [
            .init(name: "set_user_nice", returnAddress: 0xffffffff811a5447, ranges: []),
            .init(name: "test_taint", returnAddress: 0xffffffff811a5470, ranges: []),
            .init(name: "schedule_timeout_interruptible", returnAddress: 0xffffffff811a5485, ranges: []),
            .init(name: "check_hung_uninterruptible_tasks", returnAddress: 0xffffffff811a547c, ranges: []),
            .init(name: "inlined_in_loop", returnAddress: nil, ranges: [0xffffffff811a5447..<0xffffffff811a546b]),
            .init(name: "tail_called", returnAddress: nil, ranges: []),
        ])
        let points = KthreadResumePoints(layout: layout, flow: flow)
        XCTAssertEqual(points.points[0x75], ["test_taint", "schedule_timeout_interruptible", "inlined_in_loop", "tail_called"])
        XCTAssertEqual(points.points[0x5].map { $0.contains("set_user_nice") }, true, "from __fentry__'s return the prologue runs")
    }

    /// watchdog with a cold part (`watchdog.cold`, placed before it as in .text.unlikely) that calls
    /// check_hung_uninterruptible_tasks and jumps back into the loop.
    func testResumePointsInTheColdPartAreKeyedFromItsStart() throws {
        let coldListing = """

            ffffffff81a0c960 <watchdog.cold>:
            ffffffff81a0c960:\tcall   ffffffff810dd8e0 <check_hung_uninterruptible_tasks>
            ffffffff81a0c965:\tjmp    ffffffff811a5447 <watchdog+0x37>

            """
        let hot = 0xffffffff811a5410..<UInt64(0xffffffff811a5496), cold = 0xffffffff81a0c960..<UInt64(0xffffffff81a0c96a)
        let instructions = ObjdumpListing.instructions(coldListing, rangeEnd: cold.upperBound)
            + ObjdumpListing.instructions(Self.listing, rangeEnd: hot.upperBound)
        let flow = ControlFlow(instructions: instructions, ranges: [hot, cold])
        let layout = FunctionLayout(name: "watchdog", entry: hot.lowerBound, ranges: [hot, cold], hops: [
            .init(name: "set_user_nice", returnAddress: 0xffffffff811a5447, ranges: []),
            .init(name: "test_taint", returnAddress: 0xffffffff811a5470, ranges: []),
            .init(name: "in_cold", returnAddress: 0xffffffff81a0c965, ranges: []),
        ])
        let points = KthreadResumePoints(layout: layout, flow: flow)
        let coldKey = try XCTUnwrap(KthreadResumePoints.key(symbol: "watchdog.cold", offset: 5))
        XCTAssertEqual(coldKey, 5 | KthreadResumePoints.coldPart)
        XCTAssertEqual(points.points[coldKey], ["test_taint"], "asleep at watchdog.cold+0x5: back into the loop")
        XCTAssertEqual(points.points[5].map { $0.contains("set_user_nice") }, true, "watchdog+0x5 is the hot part's own (__fentry__'s return)")
        XCTAssertEqual(points.points.keys.filter { $0 & KthreadResumePoints.coldPart != 0 }, [coldKey])
    }

    /// A file that is not a linked vmlinux has no jump/exception/alternative tables:
    /// the hidden edges cannot be known, and that is an error, not an empty list.
    func testMissingKernelTablesAreAnError() throws {
        let reader = try FunctionLayoutReader(path: CompiledFixtures.callgraph.get().appendingPathComponent("cgfix.ko").path)
        XCTAssertThrowsError(try reader.hiddenEdges(in: [0..<0x100])) { error in
            XCTAssertTrue("\(error)".contains("__jump_table"), "\(error)")
            XCTAssertTrue("\(error)".contains("not a linked x86-64 vmlinux"), "\(error)")
        }
    }
}
