import TestSupport
import XCTest
@testable import KthreadSafety
@testable import PatchModel

/// The apply-time decision, from the kpvictim module's real call graph and
/// kthreads parsed from /proc text.
final class KthreadSafetyCheckTests: XCTestCase {
    private func kpvictimReachability(_ targets: [String]) throws -> KthreadReachability {
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path)
        return try KthreadReachability(graph: graph, targets: targets)
    }

    /// The check for a patch replacing `targets` in `object`, with the module's reachability of them.
    private func check(_ targets: [String], object: String = "kpvictim", reach: KthreadReachability? = nil,
                       allowComms: Set<String> = [], allowAll: Bool = false) throws -> KthreadSafetyCheck {
        KthreadSafetyCheck(replaced: targets.map { ReplacedFunction(object: object, name: $0, sympos: 0, newSymbol: "klp_new_" + $0) },
                           reachabilities: [try reach ?? kpvictimReachability(targets)], allowComms: allowComms, allowAll: allowAll)
    }

    /// The call-graph fixture module's graph (Tests/Fixtures/callgraph).
    private func cgfixGraph() throws -> CallGraph {
        try CallGraphBuilder.build(path: CompiledFixtures.callgraph.get().appendingPathComponent("cgfix.ko").path)
    }

    /// The fixture's kthread, asleep in the given frames (innermost first) above kthread().
    private func cgThread(pid: Int, _ frames: String) -> LiveKthread {
        LiveKthread(pid: pid, comm: "cg_thread", stack: ProcStack.parse(frames + """
            [<0>] kthread+0xe8/0x110
            [<0>] ret_from_fork+0x22/0x30

            """))
    }

    private var tick: LiveKthread {
        LiveKthread(pid: 212, comm: "kpvictim_tick", stack: ProcStack.parse(KthreadsParsingTests.tickStack))
    }
    private var kworker: LiveKthread {
        LiveKthread(pid: 7, comm: "kworker/0:1", stack: ProcStack.parse(KthreadsParsingTests.kworkerStack))
    }

    func testUnconvertedKthreadReachingPatchedFunctionIsRefusedWithPath() throws {
        let report = try check(["kpvictim_tick_once"]).evaluate([tick, kworker])
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

    /// With the module's code compared, as `build` does: kpvictim_tick_fn reads nothing kpvictim_tick_once writes
    /// (the counter is read by /proc only; kpvictim_tick_once, which hands nothing back, keeps what it reads to
    /// itself): a note, naming the path.
    func testTickWithTheDataComparedIsANote() throws {
        let path = try CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path
        let graph = try CallGraphBuilder.build(path: path)
        let functions = [ReplacedFunction(object: "kpvictim", name: "kpvictim_tick_once", sympos: 0, newSymbol: "klp_new_kpvictim_tick_once")]
        let records = try KthreadAnalysis.analyse(functions: functions, graphs: ["kpvictim": { graph }],
                                                  code: ["kpvictim": { try DataAccessReader(path: path) }]).blobs
        let report = KthreadSafetyCheck(replaced: functions, reachabilities: try records.map { try KthreadReachability(decoding: $0) })
            .evaluate([tick])
        XCTAssertTrue(report.safe, "\(report.refusals)")
        XCTAssertEqual(report.notes.first?.path.map(\.name), ["kpvictim_tick_fn", "kpvictim_tick_once"])
    }

    /// kpvictim_tick_once returns nothing and takes nothing, but it is in the tick
    /// kthread's own file (its static data is the loop's): still refused.
    func testFunctionPassingNothingBackInTheKthreadsOwnFileIsRefused() throws {
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path)
        XCTAssertEqual(graph.interface(of: try graph.node("kpvictim_tick_once")), .passesNothingBack)
        let reach = try KthreadReachability(graph: graph, targets: ["kpvictim_tick_once"], scope: .unit)
        let report = try check(["kpvictim_tick_once"], reach: reach).evaluate([tick])
        XCTAssertEqual(report.refusals.map(\.reason), [.reachesPatchedFunction])
        XCTAssertEqual(report.refusals.first?.path.map(\.name), ["kpvictim_tick_fn", "kpvictim_tick_once"])
        XCTAssertTrue(report.notes.isEmpty)
    }

    /// cg_thread_fn (cg_a.c) reaches cg_if_const_string (cg_iface.c), which passes
    /// nothing back: a note naming the kthread and path, not a refusal; the same
    /// record with the `passesValues` scope refuses.
    func testFunctionPassingNothingBackInAnotherFileIsANote() throws {
        let graph = try cgfixGraph()
        let thread = cgThread(pid: 300, "[<0>] msleep_interruptible+0x39/0x60\n[<0>] cg_thread_fn+0x27/0x40 [cgfix]\n")
        let nothing = try KthreadReachability(graph: graph, targets: ["cg_if_const_string"], scope: .unit)
        let report = try check(["cg_if_const_string"], object: "cgfix", reach: nothing).evaluate([thread])
        XCTAssertTrue(report.safe, "\(report.refusals)")
        let note = try XCTUnwrap(report.notes.first)
        XCTAssertEqual(note.reason, .reachesFunctionPassingNothingBack)
        XCTAssertEqual(note.path.map(\.name), ["cg_thread_fn", "cg_if_const_string"])
        XCTAssertTrue(note.description.contains("kthread 300 (cg_thread)"), note.description)
        XCTAssertTrue(note.description.contains("Not refused: cg_if_const_string returns nothing and takes no writable pointer"), note.description)
        XCTAssertTrue(note.description.contains("outside "), note.description)
        let values = try KthreadReachability(graph: graph, targets: ["cg_if_const_string"], scope: .passesValues)
        XCTAssertEqual(try check(["cg_if_const_string"], object: "cgfix", reach: values).evaluate([thread]).refusals.map(\.comm), ["cg_thread"])
        // Overrides do not turn a note into an "allowed" finding.
        let forced = try check(["cg_if_const_string"], object: "cgfix", reach: nothing, allowAll: true).evaluate([thread])
        XCTAssertTrue(forced.allowed.isEmpty)
        XCTAssertEqual(forced.notes.count, 1)
    }

    /// Where the kthread sleeps decides what it can still run: only the calls that
    /// come round again from there count for its thread function; every frame it is
    /// inside counts whole.
    func testResumePointLimitsTheThreadFunctionButNotTheFramesAboveIt() throws {
        let graph = try cgfixGraph()
        // cg_thread_fn ignores cg_entry's result, so no value of cg_leaf comes back to it: the literal rule (all paths)
        // shows what the resume points limit.
        var reach = try KthreadReachability(graph: graph, targets: ["cg_leaf"], scope: .unit)
        reach.attach([KthreadResumePoints(function: "cg_thread_fn", points: [0x27: ["cg_if_const_string", "msleep_interruptible"],
                                                                             0x10: ["cg_entry", "msleep_interruptible"]])])
        func thread(_ frames: String) -> LiveKthread { cgThread(pid: 301, frames) }
        var check = try check(["cg_leaf"], object: "cgfix", reach: reach)
        check.rule = .strict
        // Asleep past the only call to cg_entry: cg_leaf cannot run again.
        XCTAssertTrue(check.evaluate([thread("[<0>] cg_thread_fn+0x27/0x40 [cgfix]\n")]).safe)
        // Asleep where cg_entry comes round again.
        let again = check.evaluate([thread("[<0>] cg_thread_fn+0x10/0x40 [cgfix]\n")])
        XCTAssertEqual(again.refusals.first?.path.map(\.name), ["cg_thread_fn", "cg_entry", "cg_inlined", "cg_leaf"])
        // A point the record does not know: the whole thread function counts.
        XCTAssertFalse(check.evaluate([thread("[<0>] cg_thread_fn+0x33/0x40 [cgfix]\n")]).safe)
        // Inside cg_entry (asleep in it): cg_entry's whole code counts, named from the thread function.
        let inside = check.evaluate([thread("[<0>] cg_entry+0x10/0x80 [cgfix]\n[<0>] cg_thread_fn+0x27/0x40 [cgfix]\n")])
        XCTAssertEqual(inside.refusals.first?.path.map(\.name), ["cg_thread_fn", "cg_entry", "cg_inlined", "cg_leaf"])
    }

    /// cg_thread_fn reaches cg_if_returns (returns a value) only through
    /// cg_if_wrapper, which reads the value but hands nothing back: no refusal, a note naming the wrapper.
    func testValueThatCannotComeBackIsANoteNamingWhereItStops() throws {
        let graph = try cgfixGraph()
        let thread = cgThread(pid: 302, "[<0>] msleep_interruptible+0x39/0x60\n[<0>] cg_thread_fn+0x27/0x40 [cgfix]\n")
        let records = try [KthreadReachability(graph: graph, targets: ["cg_if_returns"], scope: .passesValues),
                           KthreadReachability(graph: graph, targets: ["cg_if_returns"], scope: .unit)]
        let report = KthreadSafetyCheck(replaced: [ReplacedFunction(object: "cgfix", name: "cg_if_returns", sympos: 0, newSymbol: "x")],
                                        reachabilities: records).evaluate([thread])
        XCTAssertTrue(report.safe, "\(report.refusals)")
        let note = try XCTUnwrap(report.notes.first)
        XCTAssertEqual(note.path.map(\.name), ["cg_thread_fn", "cg_if_wrapper", "cg_if_returns"])
        XCTAssertEqual(note.nothingComesBackThrough, "cg_if_wrapper")
        XCTAssertTrue(note.description.contains("Not refused: the value stops at cg_if_wrapper: it keeps nothing of what cg_if_returns "
                                                + "hands back"), note.description)
        XCTAssertTrue(note.description.contains("or it consumes it there (no data path in its machine code"), note.description)
        XCTAssertTrue(note.description.contains("or it has no channel to hand it on"), note.description)
    }

    /// The records the builder makes for a patch of cgfix replacing `names` (KthreadAnalysis, as `build` runs it).
    private func cgfixRecords(_ names: [String]) throws -> [KthreadReachability] {
        let graph = try cgfixGraph()
        let functions = names.map { ReplacedFunction(object: "cgfix", name: $0, sympos: 0, newSymbol: "klp_new_" + $0) }
        return try KthreadAnalysis.analyse(functions: functions, graphs: ["cgfix": { graph }]).blobs.map { try KthreadReachability(decoding: $0) }
    }

    private func cgfixCheck(_ names: [String], rule: KthreadRule = .default) throws -> KthreadSafetyCheck {
        KthreadSafetyCheck(replaced: names.map { ReplacedFunction(object: "cgfix", name: $0, sympos: 0, newSymbol: "klp_new_" + $0) },
                           reachabilities: try cgfixRecords(names), rule: rule)
    }

    /// (e) cg_if_sets_current writes current->flags; cg_if_current_wrapper, between it and the
    /// loop, returns nothing and takes an int: the change still reaches the kthread, which is current.
    func testWriterOfTheRunningTaskIsRefusedThroughAVoidCaller() throws {
        let thread = LiveKthread(pid: 303, comm: "cg_current", stack: ProcStack.parse("""
            [<0>] cg_if_current_loop+0x9/0x20 [cgfix]
            [<0>] kthread+0xe8/0x110
            [<0>] ret_from_fork+0x22/0x30

            """))
        let records = try cgfixRecords(["cg_if_sets_current"])
        XCTAssertEqual(records.map(\.scope), [.changesCallingTask, .unit])
        let report = try cgfixCheck(["cg_if_sets_current"]).evaluate([thread])
        XCTAssertEqual(report.refusals.map { $0.path.map(\.name) }, [["cg_if_current_loop", "cg_if_current_wrapper", "cg_if_sets_current"]])
        XCTAssertTrue(report.notes.isEmpty)
        // A value-returning function behind the same kind of wrapper is a note (testValueThatCannotComeBack...).
    }

    /// `--kthread-rule strict`: what the default rule notes, strict refuses; the default report says so.
    func testStrictRuleRefusesWhatTheDefaultNotes() throws {
        let thread = cgThread(pid: 302, "[<0>] msleep_interruptible+0x39/0x60\n[<0>] cg_thread_fn+0x27/0x40 [cgfix]\n")
        let lenient = try cgfixCheck(["cg_if_returns"]).evaluate([thread])
        XCTAssertTrue(lenient.safe)
        XCTAssertEqual(lenient.notes.map(\.pid), [302])
        XCTAssertEqual(lenient.strictWouldRefuse.map { $0.path.map(\.name) }, [["cg_thread_fn", "cg_if_wrapper", "cg_if_returns"]])
        let strict = try cgfixCheck(["cg_if_returns"], rule: .strict).evaluate([thread])
        XCTAssertFalse(strict.safe)
        XCTAssertEqual(strict.rule, .strict)
        XCTAssertEqual(strict.refusals.map { $0.path.map(\.name) }, [["cg_thread_fn", "cg_if_wrapper", "cg_if_returns"]])
        XCTAssertTrue(strict.notes.isEmpty && strict.strictWouldRefuse.isEmpty)
    }

    /// An object with replaced functions and no record (no DWARF at build time) refuses by default,
    /// even when another object of the patch has one; --allow-unanalysed lets it through, said.
    func testObjectWithoutARecordIsRefusedUnlessAllowed() throws {
        let replaced = [ReplacedFunction(object: "cgfix", name: "cg_if_returns", sympos: 0, newSymbol: "a"),
                        ReplacedFunction(object: "e1000", name: "e1000_watchdog", sympos: 0, newSymbol: "b")]
        let records = try cgfixRecords(["cg_if_returns"])
        let report = KthreadSafetyCheck(replaced: replaced, reachabilities: records).evaluate([tick])
        XCTAssertFalse(report.safe)
        XCTAssertTrue(report.refusals.isEmpty)
        XCTAssertEqual(report.unanalysed.map(\.object), ["e1000"])
        let text = report.unanalysed[0].description
        for words in ["e1000:", "linux-image-RELEASE-dbg", "--modules-debug-dir", "--allow-unanalysed"] {
            XCTAssertTrue(text.contains(words), text)
        }
        let allowed = KthreadSafetyCheck(replaced: replaced, reachabilities: records, allowUnanalysed: true).evaluate([tick])
        XCTAssertTrue(allowed.safe)
        XCTAssertEqual(allowed.unanalysed.map(\.allowedBy), ["--allow-unanalysed"])
        // No record at all: vmlinux named, with the debug vmlinux as the remedy.
        let none = KthreadSafetyCheck(replaced: [ReplacedFunction(object: "vmlinux", name: "kfree", sympos: 0, newSymbol: "c")],
                                      reachabilities: []).evaluate([])
        XCTAssertEqual(none.unanalysed.map(\.object), ["vmlinux"])
        XCTAssertTrue(none.unanalysed[0].description.contains("debug vmlinux"), none.unanalysed[0].description)
        XCTAssertFalse(none.safe)
    }

    func testUnreachablePatchIsSafe() throws {
        let report = try check(["kpvictim_sum"]).evaluate([tick, kworker])
        XCTAssertTrue(report.safe)
        XCTAssertTrue(report.allowed.isEmpty)
    }

    func testConvertedKthreadIsNotRefusedForReachability() throws {
        // A kworker whose entry is worker_thread: even a patch to worker_thread's callees is fine.
        var reach = try kpvictimReachability(["kpvictim_tick_once"])
        reach.functions.append(.init(name: "worker_thread", unit: "kernel/workqueue.c", next: 0, kind: .call))
        XCTAssertTrue(try check(["kpvictim_tick_once"], reach: reach).evaluate([kworker]).safe)
    }

    func testConvertedKthreadInsideAUnitOfWorkIsNotRefused() throws {
        // Asleep in a replaced function inside a work item: it switches when the item ends (a stall prediction, not a refusal).
        let busy = LiveKthread(pid: 9, comm: "kworker/1:0", stack: ProcStack.parse(KthreadsParsingTests.busyKworkerStack))
        let report = try check(["msleep_interruptible"], object: "vmlinux").evaluate([busy])
        XCTAssertTrue(report.safe, "\(report.refusals)")
    }

    func testReplacingAConvertedLoopIsRefusedAsResident() throws {
        let kthreadd = LiveKthread(pid: 2, comm: "kthreadd", stack: ProcStack.parse(KthreadsParsingTests.guestStacks[0].stack))
        let ksoftirqd = LiveKthread(pid: 14, comm: "ksoftirqd/0", stack: ProcStack.parse(KthreadsParsingTests.guestStacks[1].stack))
        let report = try check(["smpboot_thread_fn"], object: "vmlinux", reach: kpvictimReachability(["kpvictim_sum"]))
            .evaluate([kthreadd, ksoftirqd, kworker])
        XCTAssertEqual(report.refusals.map(\.comm), ["ksoftirqd/0"])
        let refusal = try XCTUnwrap(report.refusals.first)
        XCTAssertEqual(refusal.reason, .resident)
        XCTAssertEqual(refusal.frame?.function, "smpboot_thread_fn")
        XCTAssertTrue(refusal.description.contains("this kthread would never switch: the transition would stall"), refusal.description)
        XCTAssertTrue(refusal.description.contains("(ksoftirqd/0)"), refusal.description)
    }

    /// cgfix's cg_entry inlines cg_inlined, whose body calls cg_leaf. A kthread asleep in cg_entry keeps running the
    /// old inlined copy of cg_inlined: resident, with the inlining path. cg_leaf is called, not inlined: not resident.
    func testReplacedFunctionInlinedIntoAResidentFrameIsResident() throws {
        let graph = try cgfixGraph()
        let thread = cgThread(pid: 303, "[<0>] msleep_interruptible+0x39/0x60\n[<0>] cg_entry+0x27/0x40 [cgfix]\n")
        func report(_ name: String) throws -> KthreadSafetyReport {
            let records = try [KthreadReachability(graph: graph, targets: [name], scope: .passesValues),
                               KthreadReachability(graph: graph, targets: [name], scope: .unit)]
            return KthreadSafetyCheck(replaced: [ReplacedFunction(object: "cgfix", name: name, sympos: 0, newSymbol: "x")],
                                      reachabilities: records).evaluate([thread])
        }
        let inlined = try XCTUnwrap(try report("cg_inlined").refusals.first)
        XCTAssertEqual(inlined.reason, .resident)
        XCTAssertEqual(inlined.frame?.function, "cg_entry")
        XCTAssertEqual(inlined.path.map(\.name), ["cg_entry", "cg_inlined"])
        XCTAssertFalse(try report("cg_leaf").refusals.contains { $0.reason == .resident })
    }

    func testUnconvertedKthreadAsleepInItsLoopIsResident() throws {
        let report = try check(["kpvictim_tick_fn"]).evaluate([tick])
        XCTAssertEqual(report.refusals.map(\.reason).first, .resident)
        XCTAssertEqual(report.refusals.first?.frame?.function, "kpvictim_tick_fn")
    }

    func testHiddenSleepFunctionIsResidentInEverySleepingKthread() throws {
        let report = try check(["schedule_timeout"], object: "vmlinux",
                               reach: kpvictimReachability(["kpvictim_sum"])).evaluate([tick, kworker])
        XCTAssertEqual(report.refusals.map(\.comm), ["kpvictim_tick", "kworker/0:1"])
        XCTAssertTrue(report.refusals.allSatisfy { $0.reason == .resident && $0.frame?.function == "schedule_timeout" })
        XCTAssertTrue(report.refusals[0].description.contains("hidden from /proc/PID/stack"), report.refusals[0].description)
    }

    func testUnknownEntryInsideAReplacedFunctionIsRefused() throws {
        let odd = LiveKthread(pid: 77, comm: "odd", stack: ProcStack.parse("[<0>] kpvictim_tick_once+0x10/0x40 [kpvictim]\n"))
        XCTAssertNil(odd.entry)
        let report = try check(["kpvictim_tick_once"]).evaluate([odd])
        XCTAssertEqual(report.refusals.map(\.reason), [.unknownEntryInPatchedFunction])
        XCTAssertEqual(report.unknownEntry.map(\.pid), [77])
        XCTAssertTrue(report.unknownEntry[0].why.contains("no kthread() or ret_from_fork frame"), report.unknownEntry[0].why)
    }

    func testOverridesAreReportedAsAllowed() throws {
        let byComm = try check(["kpvictim_tick_once"], allowComms: ["kpvictim_tick"]).evaluate([tick])
        XCTAssertTrue(byComm.safe)
        XCTAssertEqual(byComm.allowed.map(\.allowedBy), ["--allow-kthread kpvictim_tick"])
        let otherComm = try check(["kpvictim_tick_once"], allowComms: ["kswapd0"]).evaluate([tick])
        XCTAssertFalse(otherComm.safe)
        let all = try check(["kpvictim_tick_once"], allowAll: true).evaluate([tick])
        XCTAssertTrue(all.safe)
        XCTAssertEqual(all.allowed.map(\.allowedBy), ["--allow-all-kthreads"])
        XCTAssertTrue(all.allowed[0].description.contains("Allowed by --allow-all-kthreads"))
    }

    func testSeveralObjectsOfOnePatchAreCheckedTogether() throws {
        // A patch touching the module's /proc helper and its tick helper, analysed as two objects.
        let sum = try kpvictimReachability(["kpvictim_sum"]), tickOnce = try kpvictimReachability(["kpvictim_tick_once"])
        let replaced = ["kpvictim_sum", "kpvictim_tick_once"].map { ReplacedFunction(object: "kpvictim", name: $0, sympos: 0, newSymbol: $0) }
        XCTAssertTrue(KthreadSafetyCheck(replaced: Array(replaced.prefix(1)), reachabilities: [sum]).evaluate([tick]).safe)
        let report = KthreadSafetyCheck(replaced: replaced, reachabilities: [sum, tickOnce]).evaluate([tick])
        XCTAssertEqual(report.refusals.map { $0.path.map(\.name) }, [["kpvictim_tick_fn", "kpvictim_tick_once"]])
    }

    func testUnknownEntryIsListed() throws {
        let running = LiveKthread(pid: 15, comm: "ksoftirqd/1", stack: [])
        let report = try check(["kpvictim_tick_once"]).evaluate([running])
        XCTAssertEqual(report.unknownEntry.map(\.pid), [15])
        XCTAssertEqual(report.unknownEntry.first?.comm, "ksoftirqd/1")
        XCTAssertTrue(report.safe)
    }

    func testReportIsCodable() throws {
        let report = try check(["kpvictim_tick_once"]).evaluate([tick])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let decoded = try JSONDecoder().decode(KthreadSafetyReport.self, from: encoder.encode(report))
        XCTAssertEqual(decoded, report)
    }
}
