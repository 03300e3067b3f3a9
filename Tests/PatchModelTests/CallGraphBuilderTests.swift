import XCTest
import TestSupport
@testable import PatchModel

/// The DWARF walk over a module compiled with the target's Kbuild, whose edges
/// are known from its source (Tests/Fixtures/callgraph/cg_a.c, cg_b.c).
final class CallGraphBuilderTests: XCTestCase {
    private func fixtureGraph(threads: Int = 1) throws -> CallGraph {
        try CallGraphBuilder.build(path: CompiledFixtures.callgraph.get().appendingPathComponent("cgfix.ko").path, threads: threads)
    }

    func testDirectInlinedAndCrossUnitCallsOfEntry() throws {
        let graph = try fixtureGraph()
        let entry = try graph.node("cg_entry")
        XCTAssertEqual(graph.calleeNames(of: entry), ["cg_local", "cg_inlined", "cg_b_global", "cg_ping", "cg_tail_caller"])
        XCTAssertEqual(graph.kind(from: entry, to: try graph.node("cg_local", unit: "cg_a.c")), .call)
        XCTAssertEqual(graph.kind(from: entry, to: try graph.node("cg_inlined")), .inlined)
        XCTAssertEqual(graph.kind(from: entry, to: try graph.node("cg_b_global")), .call)
        // The call in the inlined body belongs to the inlined function.
        XCTAssertEqual(graph.calleeNames(of: try graph.node("cg_inlined")), ["cg_leaf"])
        XCTAssertTrue(graph.unit(of: try graph.node("cg_b_global")).hasSuffix("cg_b.c"))
    }

    func testTailCallIsAnEdgeOfKindTailCall() throws {
        let graph = try fixtureGraph()
        let caller = try graph.node("cg_tail_caller")
        XCTAssertEqual(graph.calleeNames(of: caller), ["cg_tail_target"])
        XCTAssertEqual(graph.kind(from: caller, to: try graph.node("cg_tail_target")), .tailCall)
    }

    func testMutualRecursionIsACycle() throws {
        let graph = try fixtureGraph()
        let ping = try graph.node("cg_ping"), pong = try graph.node("cg_pong")
        XCTAssertEqual(graph.callees(of: ping).map(\.callee), [pong])
        XCTAssertEqual(graph.callees(of: pong).map(\.callee), [ping])
    }

    func testSameNamedStaticsInTwoUnitsStayDistinct() throws {
        let graph = try fixtureGraph()
        let localA = try graph.node("cg_local", unit: "cg_a.c"), localB = try graph.node("cg_local", unit: "cg_b.c")
        XCTAssertNotEqual(localA, localB)
        XCTAssertEqual(graph.callees(of: try graph.node("cg_b_global")).map(\.callee), [localB])
        XCTAssertEqual(graph.callees(of: try graph.node("cg_b_unreached")).map(\.callee), [localB])
        XCTAssertFalse(graph.callees(of: try graph.node("cg_entry")).contains { $0.callee == localB })
    }

    func testKthreadEntryFoundFromCallSiteParameter() throws {
        let graph = try fixtureGraph()
        let spawns = graph.kthreadSpawns.map { [graph.name(of: Int($0.spawner)), graph.name(of: Int($0.entry)), graph.name(of: Int($0.creator))] }
        XCTAssertEqual(spawns, [["cg_init", "cg_thread_fn", "kthread_create_on_node"]])
        XCTAssertEqual(graph.calleeNames(of: try graph.node("cg_thread_fn")), ["kthread_should_stop", "cg_entry", "cg_if_const_string", "cg_if_wrapper", "msleep_interruptible"])
    }

    /// Prototypes in Tests/Fixtures/callgraph/cg_iface.c, each with a known verdict.
    func testFunctionInterfacesFromPrototypes() throws {
        let graph = try fixtureGraph()
        let nothing = ["cg_if_scalars", "cg_if_const_void", "cg_if_const_string", "cg_if_const_ro", "cg_if_const_list",
                       "cg_if_typedef_const", "cg_if_no_parameters", "cg_if_wrapper"]
        // cg_if_int_address takes an address as an integer; cg_if_opaque a struct known only by name;
        // cg_if_rec_b reaches a writable pointer through cg_rec_a, decided first while cg_rec_b assumed it read-only.
        let values = ["cg_if_returns", "cg_if_writable", "cg_if_void_pointer", "cg_if_const_rw", "cg_if_callback", "cg_if_varargs",
                      "cg_entry", "cg_thread_fn", "cg_if_int_address", "cg_if_opaque", "cg_if_rec_a", "cg_if_rec_b", "cg_if_current_loop"]
        for name in nothing { XCTAssertEqual(graph.interface(of: try graph.node(name)), .passesNothingBack, name) }
        for name in values { XCTAssertEqual(graph.interface(of: try graph.node(name)), .passesValuesBack, name) }
        // Writes current->flags (inlined get_current()): its callers' task changes, whatever comes back.
        XCTAssertEqual(graph.interface(of: try graph.node("cg_if_sets_current")), .usesCurrentTask)
        XCTAssertEqual(graph.interface(of: try graph.node("cg_if_current_wrapper")), .passesNothingBack)
        // Called but not defined in the module: its prototype is not known, so it is not trusted.
        XCTAssertEqual(graph.interface(of: try graph.node("msleep_interruptible")), .unknown)
        XCTAssertTrue(FunctionInterface.unknown.mayPassValuesBack)
    }

    func testTwoThreadsBuildTheSameGraph() throws {
        let one = try fixtureGraph(threads: 1), two = try fixtureGraph(threads: 2)
        func edges(_ g: CallGraph) -> Set<String> {
            Set((0..<g.edgeCount).map { "\(g.function(Int(g.edgeCaller[$0]))) -> \(g.function(Int(g.edgeCallee[$0]))) \(g.edgeKind[$0])" })
        }
        XCTAssertEqual(edges(one), edges(two))
        XCTAssertEqual(one.nodeCount, two.nodeCount)
    }

    func testObjectFileRelocationsAreApplied() throws {
        // A single ET_REL object: without relocations the names and call origins would be wrong.
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.callgraph.get().appendingPathComponent("cg_b.o").path)
        XCTAssertEqual(graph.calleeNames(of: try graph.node("cg_b_global")), ["cg_local"])
    }

    func testMissingFileIsATypedError() {
        XCTAssertThrowsError(try CallGraphBuilder.build(path: "/nonexistent/x.ko")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/x.ko"), "\(error)")
        }
    }
}
