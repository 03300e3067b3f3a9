import Foundation
import TestSupport
import XCTest
@testable import KthreadSafety
@testable import PatchModel

/// Issue 21's cases on the value-flow fixture (Tests/Fixtures/valueflow, compiled with the target's Kbuild):
/// what a kthread's loop keeps of what a replaced function hands back, from the module's machine code and DWARF.
final class ValueFlowTests: XCTestCase {
    private func module() throws -> String {
        try CompiledFixtures.valueflow.get().appendingPathComponent("vffix.ko").path
    }

    /// The records `build` makes for a patch of vffix replacing `names`, with the data comparison.
    private func records(_ names: [String]) throws -> [KthreadReachability] {
        let path = try module()
        let graph = try CallGraphBuilder.build(path: path)
        let functions = names.map { ReplacedFunction(object: "vffix", name: $0, sympos: 0, newSymbol: "klp_new_" + $0) }
        return try KthreadAnalysis.analyse(functions: functions, graphs: ["vffix": { graph }],
                                           code: ["vffix": { try DataAccessReader(path: path) }]).blobs.map { try KthreadReachability(decoding: $0) }
    }

    private func evaluate(_ names: [String], rule: KthreadRule = .default) throws -> KthreadSafetyReport {
        KthreadSafetyCheck(replaced: names.map { ReplacedFunction(object: "vffix", name: $0, sympos: 0, newSymbol: "klp_new_" + $0) },
                           reachabilities: try records(names), rule: rule).evaluate([thread])
    }

    /// vf_thread asleep in its loop (the module's kthread has no resume table: its whole thread function counts).
    private var thread: LiveKthread {
        LiveKthread(pid: 400, comm: "vf_thread", stack: ProcStack.parse("""
            [<0>] msleep_interruptible+0x39/0x60
            [<0>] vf_thread_fn+0x5a/0xa0 [vffix]
            [<0>] kthread+0xe8/0x110
            [<0>] ret_from_fork+0x22/0x30

            """))
    }

    /// vf_watch (vf_frame.c's kthread) asleep at `vf_watch_fn+offset`.
    private func watch(at offset: Int) -> LiveKthread {
        LiveKthread(pid: 401, comm: "vf_watch", stack: ProcStack.parse("""
            [<0>] msleep_interruptible+0x39/0x60
            [<0>] vf_watch_fn+0x\(String(offset, radix: 16))/0x80 [vffix]
            [<0>] kthread+0xe8/0x110
            [<0>] ret_from_fork+0x22/0x30

            """))
    }

    /// The facts the decision rests on, read from the module: vf_drop hands its parameter on to vf_release and
    /// keeps nothing; vf_step does not keep the object it gave vf_drop; vf_note_result reads vf_compute's result;
    /// the loop keeps the object it gave vf_fill (its own stack).
    func testCallSiteFlowsReadFromTheModule() throws {
        let graph = try CallGraphBuilder.build(path: module())
        func flow(_ caller: String, _ callee: String) throws -> CallSiteFlow {
            let edge = try XCTUnwrap(graph.edge(from: try graph.node(caller), to: try graph.node(callee)), "\(caller) -> \(callee)")
            return graph.flow(ofEdge: edge)
        }
        let drop = try flow("vf_drop", "vf_release")
        XCTAssertFalse(drop.keepsArgument(0), drop.description)
        XCTAssertEqual(drop.handedOn(0), 1, drop.description)
        XCTAssertFalse(try flow("vf_step", "vf_drop").keepsArgument(0))
        XCTAssertTrue(try flow("vf_step", "vf_drop").usesResult)
        XCTAssertTrue(try flow("vf_note_result", "vf_compute").usesResult)
        XCTAssertTrue(try flow("vf_thread_fn", "vf_fill").keepsArgument(0))
        XCTAssertTrue(graph.signature(of: try graph.node("vf_release")).writableArguments & 1 != 0, "unsigned long addr may be an address")
    }

    /// A release path: vf_thread_fn -> vf_step -> vf_drop -> vf_release(unsigned long). vf_release writes through
    /// the integer address, vf_drop hands on its own parameter, vf_step never uses the object again: let through,
    /// with a note naming vf_step as where the value stops. Strict refuses it.
    func testReleasePathIsANoteNamingWhereTheValueStops() throws {
        let report = try evaluate(["vf_release"])
        XCTAssertTrue(report.safe, "\(report.refusals)")
        let note = try XCTUnwrap(report.notes.first)
        XCTAssertEqual(note.path.map(\.name), ["vf_thread_fn", "vf_step", "vf_drop", "vf_release"])
        XCTAssertEqual(note.nothingComesBackThrough, "vf_step")
        XCTAssertTrue(note.description.contains("the value stops at vf_step: it keeps nothing of what vf_drop hands back"), note.description)
        XCTAssertEqual(report.strictWouldRefuse.map(\.comm), ["vf_thread"])
        XCTAssertFalse(try evaluate(["vf_release"], rule: .strict).safe)
    }

    /// Hole (c): vf_fill(unsigned long addr) writes through an integer the loop passed as its own object's address
    /// and reads afterwards: refused.
    func testIntegerAddressTheLoopReadsAfterwardsIsRefused() throws {
        let report = try evaluate(["vf_fill"])
        XCTAssertEqual(report.refusals.map(\.reason), [.reachesPatchedFunction])
        XCTAssertEqual(report.refusals.first?.path.map(\.name), ["vf_thread_fn", "vf_fill"])
    }

    /// Hole (f): vf_note_result returns nothing and takes an int, but stores vf_compute's result in vf_last,
    /// which the loop reads: refused, naming the data.
    func testVoidIntermediaryStoringIntoLoopDataIsRefused() throws {
        let report = try evaluate(["vf_compute"])
        let refusal = try XCTUnwrap(report.refusals.first, "\(report.notes)")
        XCTAssertEqual(refusal.reason, .reachesPatchedFunction)
        XCTAssertEqual(refusal.sharedData, "vf_note_result writes vf_last, which vf_thread_fn reads")
        XCTAssertTrue(refusal.description.contains("through data: vf_note_result writes vf_last"), refusal.description)
    }

    /// Hole (a): vf_tick_once (vf_tick.c) returns nothing and takes nothing, but bumps vf_ticks, which the loop
    /// in vf_loop.c reads: refused although it is in another compilation unit.
    func testTwoFileTickIsRefused() throws {
        let report = try evaluate(["vf_tick_once"])
        let refusal = try XCTUnwrap(report.refusals.first, "\(report.notes)")
        XCTAssertEqual(refusal.path.map(\.name), ["vf_thread_fn", "vf_tick_once"])
        XCTAssertEqual(refusal.sharedData, "vf_tick_once writes vf_ticks, which vf_thread_fn reads")
    }

    /// The loop's data is what its code reads, the functions it calls included (one level): vf_watch_fn reads
    /// vf_watch_deadline only through vf_watch_due, and vf_set_deadline (void, takes an int) writes it: refused,
    /// naming the function that reads it.
    func testDataReadByAFunctionTheLoopCallsIsRefused() throws {
        let watch = watch(at: 0x40)
        let replaced = [ReplacedFunction(object: "vffix", name: "vf_set_deadline", sympos: 0, newSymbol: "klp_new_vf_set_deadline")]
        let report = KthreadSafetyCheck(replaced: replaced, reachabilities: try records(["vf_set_deadline"])).evaluate([watch])
        let refusal = try XCTUnwrap(report.refusals.first, "\(report.notes)")
        XCTAssertEqual(refusal.path.map(\.name), ["vf_watch_fn", "vf_set_deadline"])
        XCTAssertEqual(refusal.sharedData,
                       "vf_set_deadline writes vf_watch_deadline, which vf_watch_fn reads (in vf_watch_due, which it calls)")
        let record = try XCTUnwrap(try records(["vf_set_deadline"]).first { $0.scope == .unit })
        XCTAssertEqual(try KthreadReachability(decoding: record.encode()), record)
    }

    /// A function a value comes into counts as writing only what it stores of that value, where its code says so:
    /// vf_tally branches on vf_sample's value and writes the loop's deadline with a value of its own (a note);
    /// vf_tally_store stores vf_delay's value there (refused, naming the data).
    func testOnlyWhatAFunctionStoresOfTheValueIsItsWrite() throws {
        let watch = watch(at: 0x40)
        func check(_ name: String) throws -> KthreadSafetyReport {
            let replaced = [ReplacedFunction(object: "vffix", name: name, sympos: 0, newSymbol: "klp_new_" + name)]
            return KthreadSafetyCheck(replaced: replaced, reachabilities: try records([name])).evaluate([watch])
        }
        let sample = try check("vf_sample")
        XCTAssertTrue(sample.refusals.isEmpty, "\(sample.refusals)")
        XCTAssertEqual(sample.notes.first?.nothingComesBackThrough, "vf_tally")
        let delay = try check("vf_delay")
        let refusal = try XCTUnwrap(delay.refusals.first, "\(delay.notes)")
        XCTAssertEqual(refusal.sharedData, "vf_tally_store writes vf_watch_deadline, which vf_watch_fn reads (in vf_watch_due, which it calls)")
    }

    /// Flow inside a function (vf_flow.c): each caller of vf_compute reads its result, and its own code decides
    /// whether the value goes on. vf_consume only branches on it: it comes in and stops there. vf_pass (a
    /// register across a call), vf_spill (a stack slot across a call) and vf_mix (arithmetic) return it; vf_store
    /// stores it through its pointer argument: it goes on through that channel.
    func testCallerCodeDecidesWhetherTheResultGoesOn() throws {
        let graph = try CallGraphBuilder.build(path: module())
        let compute = try graph.node("vf_compute")
        func through(_ caller: String) throws -> (flow: CallSiteFlow, channels: ValueChannels?) {
            let edge = try XCTUnwrap(graph.edge(from: try graph.node(caller), to: compute), "\(caller) -> vf_compute")
            XCTAssertEqual(CallKind(rawValue: graph.edgeKind[edge]), .call, caller)
            let flow = graph.flow(ofEdge: edge)
            return (flow, flow.channels(into: graph.signature(of: try graph.node(caller)), from: .result))
        }
        for caller in ["vf_consume"] {
            let found = try through(caller)
            XCTAssertTrue(found.flow.usesResult, "\(caller): \(found.flow)")
            XCTAssertFalse(found.flow.carriesResultOn, "\(caller): \(found.flow)")
            XCTAssertEqual(found.channels, [], "\(caller): comes in and stops")
        }
        for caller in ["vf_pass", "vf_spill", "vf_mix"] {
            let found = try through(caller)
            XCTAssertTrue(found.flow.carriesResultOn, "\(caller): \(found.flow)")
            XCTAssertEqual(found.channels, .result, caller)
        }
        let store = try through("vf_store")
        XCTAssertTrue(store.flow.carriesResultOn, store.flow.description)
        XCTAssertEqual(store.channels, .argument(1), "through its pointer argument (a void function)")

        // The search: vf_consume holds the value and hands it on to no caller; the others hand it on.
        let search = ValueFlowSearch(graph: graph, targets: [compute])
        XCTAssertEqual(search.channels[try graph.node("vf_consume")], [])
        XCTAssertEqual(search.channels[try graph.node("vf_pass")], .result)
        XCTAssertEqual(search.channels[try graph.node("vf_store")], .argument(1))
    }

    /// Frames (vf_frame.c): vf_put is inlined, so its call of vf_release belongs to the function it is inlined
    /// into. vf_frame_drops never reads the object again: the value does not come into it; vf_frame_keeps reads
    /// the object afterwards: it comes in and goes on as its result. The inlined vf_put itself holds nothing
    /// (before, every function it is inlined into counted as keeping everything through it).
    func testCallsFromInlinedCodeBelongToTheFrameThatRunsThem() throws {
        let graph = try CallGraphBuilder.build(path: module())
        let release = try graph.node("vf_release"), put = try graph.node("vf_put")
        let edge = try XCTUnwrap(graph.edge(from: put, to: release), "vf_put -> vf_release")
        var frames: [String: CallSiteFlow] = [:]
        for site in graph.frameFlows(ofEdge: edge) { frames[graph.name(of: site.frame), default: .keepsNothing].formUnion(site.flow) }
        XCTAssertEqual(Set(frames.keys), ["vf_frame_drops", "vf_frame_keeps"])
        XCTAssertFalse(try XCTUnwrap(frames["vf_frame_drops"]).keepsArgument(0), "\(frames)")
        XCTAssertTrue(try XCTUnwrap(frames["vf_frame_keeps"]).keepsArgument(0), "\(frames)")

        let search = ValueFlowSearch(graph: graph, targets: [release])
        XCTAssertNil(search.channels[try graph.node("vf_frame_drops")])
        XCTAssertEqual(search.channels[try graph.node("vf_frame_keeps")], .result)
        XCTAssertNil(search.channels[put], "the inlined body is not a frame")
    }

    /// Objects in the caller's own frame (vf_object.c): the call passes `&b` (`DW_OP_fbreg`), and the caller's code
    /// is followed over the object's bytes from the frame's layout. vf_object_drops never reads `b` again and
    /// vf_object_refills overwrites what vf_box_fill wrote before reading it: the value stops in both.
    /// vf_object_keeps returns what `b` holds. vf_object_escapes stores `&b` in global data: its frame is not
    /// followed, and the object counts as kept and carried on. vf_returns_only takes a writable pointer but
    /// hands vf_compute's value on only as its result: only that channel.
    func testFrameObjectsAreFollowedInTheCallersFrame() throws {
        let graph = try CallGraphBuilder.build(path: module())
        let fill = try graph.node("vf_box_fill")
        func flow(_ caller: String) throws -> CallSiteFlow {
            graph.flow(ofEdge: try XCTUnwrap(graph.edge(from: try graph.node(caller), to: fill), caller))
        }
        let drops = try flow("vf_object_drops"), refills = try flow("vf_object_refills")
        XCTAssertFalse(drops.keepsArgument(0), drops.description)
        XCTAssertFalse(refills.keepsArgument(0), refills.description)
        let keeps = try flow("vf_object_keeps")
        XCTAssertTrue(keeps.keepsArgument(0) && keeps.carriesArgumentOn(0) && !keeps.carriesArgumentElsewhere(0), keeps.description)
        let escapes = try flow("vf_object_escapes")
        XCTAssertTrue(escapes.keepsArgument(0) && escapes.carriesArgumentElsewhere(0), escapes.description)

        let search = ValueFlowSearch(graph: graph, targets: [fill])
        XCTAssertNil(search.channels[try graph.node("vf_object_drops")])
        XCTAssertNil(search.channels[try graph.node("vf_object_refills")])
        XCTAssertEqual(search.channels[try graph.node("vf_object_keeps")], .result)
        XCTAssertEqual(search.channels[try graph.node("vf_object_escapes")], .result)

        let compute = ValueFlowSearch(graph: graph, targets: [try graph.node("vf_compute")])
        XCTAssertEqual(compute.channels[try graph.node("vf_returns_only")], .result, "not through its pointer argument")
    }

    /// `kpatchctl callgraph --explain` shows the same: the path names the inlined vf_put between the frame and
    /// vf_release, and each hop says how the call is made and what the frame keeps.
    func testCallgraphExplainNamesTheFrameAndTheInlinedBody() throws {
        let result = try runCommand([TestBed.shared.releaseBinary.path, "callgraph", "--json", "--explain", "--from-dwarf", try module(),
                                     "--reaches", "vf_release", "--from", "vf_frame_keeps", "--from", "vf_frame_drops"])
        XCTAssertEqual(result.status, 0, result.output)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
        let from = try XCTUnwrap(object["from"] as? [[String: Any]], result.output)
        let keeps = try XCTUnwrap(from.first { $0["function"] as? String == "vf_frame_keeps" })
        XCTAssertEqual((keeps["path"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["vf_frame_keeps", "vf_put", "vf_release"])
        let hops = try XCTUnwrap(keeps["hops"] as? [[String: String]], "\(keeps)")
        XCTAssertEqual(hops.map { $0["kind"] }, ["inlined", "call"])
        XCTAssertTrue(hops[1]["keeps"]?.hasPrefix("vf_frame_keeps keeps argument 1") == true, "\(hops)")
        XCTAssertNil(from.first { $0["function"] as? String == "vf_frame_drops" }?["path"], "the value does not come into it")
    }

    /// A tail call (vf_tail_release ends with `jmp vf_release`): the caller's frame is gone, its own parameter is
    /// handed on, nothing is kept. Before, a tail call kept everything.
    func testTailCallHandsItsParameterOn() throws {
        let graph = try CallGraphBuilder.build(path: module())
        let release = try graph.node("vf_release"), tail = try graph.node("vf_tail_release")
        let edge = try XCTUnwrap(graph.edge(from: tail, to: release))
        XCTAssertEqual(CallKind(rawValue: graph.edgeKind[edge]), .tailCall)
        let flow = graph.flow(ofEdge: edge)
        XCTAssertFalse(flow.keepsArgument(0), flow.description)
        XCTAssertEqual(flow.handedOn(0), 1, flow.description)
        XCTAssertEqual(ValueFlowSearch(graph: graph, targets: [release]).channels[tail], .argument(0))
    }

    /// The resume-hop gap: vf_watch_fn asleep in its loop can run vf_check again, inlined into it, which only
    /// branches on vf_compute's result. The value stops in code that runs in the loop's own frame: refused,
    /// through the call its frame makes (the path shows the inlined body). Asleep where only
    /// msleep_interruptible can run again: nothing.
    func testValueStoppingInCodeInlinedIntoTheLoopIsRefused() throws {
        let graph = try CallGraphBuilder.build(path: module())
        let replaced = [ReplacedFunction(object: "vffix", name: "vf_compute", sympos: 0, newSymbol: "klp_new_vf_compute")]
        var reach = try KthreadReachability(graph: graph, targets: ["vf_compute"], object: "vffix")
        // The hops the resume analysis finds for such a loop: the inlined body, and the calls made inside it.
        reach.attach([KthreadResumePoints(function: "vf_watch_fn", points: [0x20: ["vf_check", "vf_compute", "msleep_interruptible"],
                                                                            0x40: ["msleep_interruptible"]])],
                     keepHop: reach.valueHops(graph: graph))
        let check = KthreadSafetyCheck(replaced: replaced, reachabilities: [reach])
        let refused = check.evaluate([watch(at: 0x20)])
        XCTAssertEqual(refused.refusals.first?.path.map(\.name), ["vf_watch_fn", "vf_check", "vf_compute"], "\(refused.notes)")
        // The record keeps the frame-to-frame path and the inlined body between, through its encoding.
        let decoded = try KthreadReachability(decoding: reach.encode())
        XCTAssertEqual(decoded.functions.first { $0.name == "vf_watch_fn" }?.via, ["vf_check"])
        XCTAssertTrue(check.evaluate([watch(at: 0x40)]).refusals.isEmpty)
    }

    /// Stack slots and flags: a value stored in the caller's frame goes on only if it is loaded back into what
    /// leaves; `setcc` from a comparison with it is data (it goes on), a branch on it is not.
    func testDecoderFlagsAndStackEffects() throws {
        func decode(_ bytes: [UInt8]) -> X86Instruction? {
            bytes.withUnsafeBufferPointer { X86Decoder.decode($0, offset: 0, address: 0x1000) }
        }
        // sub $0x18,%rsp and push %rbx move the stack by known amounts; and $-16,%rsp by one not known.
        XCTAssertEqual(try XCTUnwrap(decode([0x48, 0x83, 0xec, 0x18])).stackDelta, -0x18)
        XCTAssertEqual(try XCTUnwrap(decode([0x53])).stackDelta, -8)
        XCTAssertEqual(try XCTUnwrap(decode([0x5b])).stackDelta, 8)
        XCTAssertNil(try XCTUnwrap(decode([0x48, 0x83, 0xe4, 0xf0])).stackDelta)
        // test %eax,%eax sets the flags; sete %al reads them and writes %al in part; cmove reads them.
        XCTAssertEqual(try XCTUnwrap(decode([0x85, 0xc0])).flags, .set)
        let sete = try XCTUnwrap(decode([0x0f, 0x94, 0xc0]))
        XCTAssertTrue(sete.readsFlags); XCTAssertEqual(sete.partialWrites, X86Instruction.bit(0))
        XCTAssertTrue(try XCTUnwrap(decode([0x48, 0x0f, 0x44, 0xc3])).readsFlags)
        // mov leaves the flags; wrmsr is a system instruction.
        XCTAssertEqual(try XCTUnwrap(decode([0x48, 0x89, 0xc3])).flags, X86Instruction.FlagEffect.none)
        XCTAssertTrue(try XCTUnwrap(decode([0x0f, 0x30])).system)
        // ud2 traps (BUG, or WARN which continues after it).
        XCTAssertTrue(try XCTUnwrap(decode([0x0f, 0x0b])).trap)
    }

    /// The decoder on what following the frame needs (all from __alloc_pages_slowpath and try_charge_memcg).
    func testDecoderFrameOperands() throws {
        func decode(_ bytes: [UInt8]) -> X86Instruction? {
            bytes.withUnsafeBufferPointer { X86Decoder.decode($0, offset: 0, address: 0x1000) }
        }
        let b = X86Instruction.bit
        // and $0xf7,%ah: without a REX prefix, byte register 4 is %ah (part of rax), not %spl.
        let ah = try XCTUnwrap(decode([0x80, 0xe4, 0xf7]))
        XCTAssertEqual(ah.partialWrites, b(0)); XCTAssertNil(ah.stackDelta); XCTAssertEqual(ah.reads & b(4), 0)
        // lea 0x60(%rsp),%rdi: the address it computes.
        let lea = try XCTUnwrap(decode([0x48, 0x8d, 0x7c, 0x24, 0x60]))
        XCTAssertEqual(lea.address?.base, 4); XCTAssertEqual(lea.address?.displacement, 0x60); XCTAssertNil(lea.memory)
        // mov $0x6,%ecx: a constant; rep stos %rax,(%rdi): a repeated 8-byte store of rax through rdi.
        let count = try XCTUnwrap(decode([0xb9, 6, 0, 0, 0]))
        XCTAssertEqual(count.constant?.register, 1); XCTAssertEqual(count.constant?.value, 6)
        let stos = try XCTUnwrap(decode([0xf3, 0x48, 0xab]))
        XCTAssertTrue(stos.repeats); XCTAssertEqual(stos.memory?.base, 7); XCTAssertEqual(stos.memory?.isStore, true)
        XCTAssertEqual(stos.memory?.width, 8); XCTAssertEqual(stos.memory?.storedRegister, 0); XCTAssertEqual(stos.writes & b(1), b(1))
        // mov %al,0x17(%rsp): a 1-byte store; cmpb $0x0,0x17(%rsp): a zero test of 1 byte; je: condition 4.
        XCTAssertEqual(try XCTUnwrap(decode([0x88, 0x44, 0x24, 0x17])).memory?.width, 1)
        XCTAssertEqual(try XCTUnwrap(decode([0x80, 0x7c, 0x24, 0x17, 0x00])).testsZero, 1)
        XCTAssertNil(try XCTUnwrap(decode([0x80, 0x7c, 0x24, 0x17, 0x01])).testsZero)
        XCTAssertEqual(try XCTUnwrap(decode([0x84, 0xc0])).testsZero, 1)
        XCTAssertEqual(try XCTUnwrap(decode([0x74, 0x05])).condition, 4)
        // movzbl 0x17(%rsp),%eax: a 1-byte load that moves the value.
        let movzx = try XCTUnwrap(decode([0x0f, 0xb6, 0x44, 0x24, 0x17]))
        XCTAssertTrue(movzx.moves); XCTAssertEqual(movzx.memory?.width, 1)
        // pop %rbx loads the top slot; add $0x10,%rsp only moves the stack.
        XCTAssertTrue(try XCTUnwrap(decode([0x5b])).pops)
        XCTAssertFalse(try XCTUnwrap(decode([0x48, 0x83, 0xc4, 0x10])).pops)
    }

    /// The decoder on instructions whose register effects the analysis relies on.
    func testDecoderRegisterEffects() throws {
        func decode(_ bytes: [UInt8]) -> X86Instruction? {
            bytes.withUnsafeBufferPointer { X86Decoder.decode($0, offset: 0, address: 0x1000) }
        }
        let b = X86Instruction.bit
        // mov %rax,%rbx: a move, nothing else read.
        let move = try XCTUnwrap(decode([0x48, 0x89, 0xc3]))
        XCTAssertEqual(move.length, 3)
        XCTAssertEqual(move.registerMove?.from, 0); XCTAssertEqual(move.registerMove?.to, 3)
        // xor %eax,%eax: writes rax without reading it.
        let zero = try XCTUnwrap(decode([0x31, 0xc0]))
        XCTAssertEqual(zero.reads & b(0), 0); XCTAssertEqual(zero.writes & b(0), b(0))
        // test %eax,%eax reads rax.
        XCTAssertEqual(try XCTUnwrap(decode([0x85, 0xc0])).reads & b(0), b(0))
        // mov %eax,0x10(%rbx): a store of rax through rbx.
        let store = try XCTUnwrap(decode([0x89, 0x43, 0x10]))
        XCTAssertEqual(store.memory?.isStore, true); XCTAssertEqual(store.memory?.storedRegister, 0)
        XCTAssertEqual(store.reads, b(0) | b(3))
        // mov 0x0(%rip),%rax (a %rip-relative load) with its displacement at offset 3.
        let load = try XCTUnwrap(decode([0x48, 0x8b, 0x05, 0, 0, 0, 0]))
        XCTAssertEqual(load.memory?.ripRelative, true); XCTAssertEqual(load.memory?.displacementOffset, 3)
        XCTAssertEqual(load.writes, b(0))
        // call rel32 and jmp rel8 targets.
        XCTAssertEqual(try XCTUnwrap(decode([0xe8, 0x10, 0, 0, 0])).flow, .call(target: 0x1015))
        XCTAssertEqual(try XCTUnwrap(decode([0xeb, 0xfe])).flow, .jump(target: 0x1000))
        // An SSE instruction the decoder does not know: nil, so every caller assumes the worst.
        XCTAssertNil(decode([0x0f, 0x28, 0xc1]))
    }
}
