import XCTest
import TestSupport
@testable import KthreadSafety
@testable import PatchModel

/// Reverse reachability and shortest paths on the compiled fixtures, and the
/// binary form the patch module carries.
final class KthreadReachabilityTests: XCTestCase {
    private func fixtureGraph() throws -> CallGraph {
        try CallGraphBuilder.build(path: CompiledFixtures.callgraph.get().appendingPathComponent("cgfix.ko").path)
    }

    private func names(_ reach: KthreadReachability) -> Set<String> { Set(reach.functions.map(\.name)) }
    private func path(_ reach: KthreadReachability, from name: String) -> [String]? {
        reach.shortestPath(fromFunctionNamed: name)?.map(\.name)
    }

    func testLeafCalledFromInlinedHelper() throws {
        let reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_leaf"], scope: .unit)
        XCTAssertEqual(names(reach), ["cg_leaf", "cg_inlined", "cg_entry", "cg_thread_fn"])
        XCTAssertEqual(path(reach, from: "cg_thread_fn"), ["cg_thread_fn", "cg_entry", "cg_inlined", "cg_leaf"])
        XCTAssertEqual(reach.shortestPath(fromFunctionNamed: "cg_entry")?.dropLast().map(\.kind), [.inlined, .call])
        XCTAssertEqual(reach.kthreadEntries.map { reach.functions[$0].name }, ["cg_thread_fn"])
    }

    func testCycleTerminatesWithShortestPaths() throws {
        let reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_pong"], scope: .unit)
        XCTAssertEqual(names(reach), ["cg_pong", "cg_ping", "cg_entry", "cg_thread_fn"])
        XCTAssertEqual(path(reach, from: "cg_ping"), ["cg_ping", "cg_pong"])
        XCTAssertEqual(path(reach, from: "cg_thread_fn"), ["cg_thread_fn", "cg_entry", "cg_ping", "cg_pong"])
    }

    func testTailCallTarget() throws {
        let reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_tail_target"], scope: .unit)
        XCTAssertEqual(names(reach), ["cg_tail_target", "cg_tail_caller", "cg_entry", "cg_thread_fn"])
        XCTAssertEqual(reach.shortestPath(fromFunctionNamed: "cg_tail_caller")?.first?.kind, .tailCall)
    }

    func testOneOfTwoSameNamedStatics() throws {
        let graph = try fixtureGraph()
        let localB = try graph.node("cg_local", unit: "cg_b.c")
        let reach = KthreadReachability(graph: graph, targetNodes: [localB], scope: .unit)
        XCTAssertEqual(reach.functions.map(\.ref.description).count, 5)
        XCTAssertEqual(names(reach), ["cg_local", "cg_b_global", "cg_b_unreached", "cg_entry", "cg_thread_fn"])
        XCTAssertEqual(path(reach, from: "cg_thread_fn"), ["cg_thread_fn", "cg_entry", "cg_b_global", "cg_local"])
        XCTAssertTrue(reach.targets.allSatisfy { $0.unit.hasSuffix("cg_b.c") })
        // By name, both statics are targets.
        let both = try KthreadReachability(graph: graph, targets: ["cg_local"], scope: .unit)
        XCTAssertEqual(both.targetCount, 2)
        XCTAssertEqual(path(both, from: "cg_thread_fn"), ["cg_thread_fn", "cg_entry", "cg_local"])
    }

    func testUnknownTargetIsAnError() throws {
        XCTAssertThrowsError(try KthreadReachability(graph: fixtureGraph(), targets: ["no_such_fn"])) { error in
            XCTAssertEqual(error as? CallGraphError, .unknownFunction("no_such_fn"))
        }
    }

    func testKpvictimTickPathAndSumNotReachableFromTick() throws {
        let graph = try CallGraphBuilder.build(path: CompiledFixtures.kpvictim.get().appendingPathComponent("kpvictim.ko").path)
        XCTAssertEqual(graph.kthreadSpawns.map { graph.name(of: Int($0.entry)) }, ["kpvictim_tick_fn"])
        let tick = try KthreadReachability(graph: graph, targets: ["kpvictim_tick_once"])
        XCTAssertEqual(path(tick, from: "kpvictim_tick_fn"), ["kpvictim_tick_fn", "kpvictim_tick_once"])
        XCTAssertEqual(tick.kthreadEntries.map { tick.functions[$0].name }, ["kpvictim_tick_fn"])
        XCTAssertEqual(tick.kthreadEntryPaths.map { $0.map(\.name) }, [["kpvictim_tick_fn", "kpvictim_tick_once"]])
        let sum = try KthreadReachability(graph: graph, targets: ["kpvictim_sum"])
        XCTAssertNil(sum.shortestPath(fromFunctionNamed: "kpvictim_tick_fn"))
        XCTAssertEqual(path(sum, from: "kpvictim_show"), ["kpvictim_show", "kpvictim_sum"])
        XCTAssertTrue(sum.kthreadEntries.isEmpty)
    }

    func testBinaryRoundTripAndRejection() throws {
        let reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_leaf", "cg_pong"])
        let bytes = reach.encode()
        XCTAssertEqual(try KthreadReachability(decoding: bytes), reach)
        XCTAssertLessThan(bytes.count, 400, "compact: names once, a function in a few bytes")
        XCTAssertThrowsError(try KthreadReachability(decoding: Array(bytes.dropLast(3))))
        var badMagic = bytes; badMagic[0] = 0x58
        XCTAssertThrowsError(try KthreadReachability(decoding: badMagic)) { XCTAssertEqual($0 as? KthreadReachabilityError, .badMagic) }
        var future = bytes; future[4] = 0x7f
        XCTAssertThrowsError(try KthreadReachability(decoding: future)) {
            XCTAssertEqual($0 as? KthreadReachabilityError, .unsupportedVersion(0x7f))
        }
        XCTAssertThrowsError(try KthreadReachability(decoding: Array("KPKR".utf8) + [1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07]))
        var badScope = bytes; badScope[6] = 9
        XCTAssertThrowsError(try KthreadReachability(decoding: badScope)) {
            XCTAssertEqual($0 as? KthreadReachabilityError, .malformed("unknown scope 9"))
        }
    }

    /// Patches built before the scope byte (version 1) still load, every target refusing when reached.
    func testVersionOneRecordDecodesAsPassingValues() throws {
        let reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_leaf"], scope: .unit)
        var bytes = reach.encode()
        XCTAssertEqual(bytes[6], KthreadReachability.Scope.unit.rawValue)
        // Version 1: no scope byte after the version, no pass-nothing-back bits before the
        // entry list, no resume tables (here an empty list, one byte) at the end.
        // Version 5's trailer: no inlined bodies on any function's path (a unit record), one zero each.
        XCTAssertEqual(Array(bytes.suffix(reach.functions.count)), Array(repeating: 0, count: reach.functions.count))
        bytes.removeLast(reach.functions.count)
        // Version 4's trailer: the data-checked byte and an empty shared-data list.
        XCTAssertEqual(Array(bytes.suffix(2)), [0, 0])
        bytes.removeLast(2)
        XCTAssertEqual(bytes.last, 0)
        bytes.removeLast()
        XCTAssertTrue(reach.kthreadEntries.allSatisfy { $0 < 128 } && reach.kthreadEntries.count < 128, "one-byte varints")
        let bitsEnd = bytes.count - (1 + reach.kthreadEntries.count)
        bytes.removeSubrange((bitsEnd - (reach.functions.count + 7) / 8)..<bitsEnd)
        bytes[4] = 1; bytes[5] = 0
        bytes.remove(at: 6)
        // No object (version 3) after the source either.
        XCTAssertEqual(bytes[7 + reach.source.utf8.count], 0, "an empty object name")
        bytes.remove(at: 7 + reach.source.utf8.count)
        let old = try KthreadReachability(decoding: bytes)
        XCTAssertEqual(old.scope, .passesValues)
        XCTAssertEqual(old.functions.map(\.name), reach.functions.map(\.name))
        XCTAssertEqual(old.functions.map(\.next), reach.functions.map(\.next))
    }

    func testResumeTablesRoundTrip() throws {
        var reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_leaf"], scope: .unit)
        reach.attach([KthreadResumePoints(function: "cg_thread_fn", points: [0x27: ["cg_entry", "msleep_interruptible"], 0x10: []])])
        XCTAssertEqual(reach.resumeHops(function: "cg_thread_fn", offset: 0x27).map { $0.map { reach.functions[$0].name } }, ["cg_entry"],
                       "only the hops that reach a target are kept")
        XCTAssertEqual(reach.resumeHops(function: "cg_thread_fn", offset: 0x10), [])
        XCTAssertNil(reach.resumeHops(function: "cg_thread_fn", offset: 0x99))
        XCTAssertNil(reach.resumeHops(function: "cg_entry", offset: 0x27))
        XCTAssertEqual(try KthreadReachability(decoding: reach.encode()), reach)
    }

    /// A kthread asleep in the cold part reports `fn.cold+off`: that offset is looked
    /// up among the cold part's points, never taken as an offset from the hot entry.
    func testColdPartOffsetsAreTheirOwnKeys() throws {
        var reach = try KthreadReachability(graph: fixtureGraph(), targets: ["cg_leaf"], scope: .unit, object: "cgfix")
        let cold = try XCTUnwrap(KthreadResumePoints.key(symbol: "cg_thread_fn.cold", offset: 0x27))
        reach.attach([KthreadResumePoints(function: "cg_thread_fn", points: [0x27: [], cold: ["cg_entry"]])])
        XCTAssertEqual(reach.resumeHops(function: "cg_thread_fn", offset: 0x27), [])
        XCTAssertEqual(reach.resumeHops(function: "cg_thread_fn.cold", offset: 0x27).map { $0.map { reach.functions[$0].name } }, ["cg_entry"])
        XCTAssertNil(reach.resumeHops(function: "cg_thread_fn.cold", offset: 0x10))
        let decoded = try KthreadReachability(decoding: reach.encode())
        XCTAssertEqual(decoded, reach)
        XCTAssertEqual(decoded.object, "cgfix")
    }

    /// A value from cg_if_returns comes into cg_if_wrapper (it reads the result) and no further: the wrapper
    /// returns nothing and takes a const pointer. The value record holds the two, the wrapper marked as handing
    /// nothing on; the unit record reaches cg_thread_fn too; the value stops at the wrapper.
    func testValueRecordHoldsOnlyWhereTheValueComes() throws {
        let graph = try fixtureGraph()
        let values = try KthreadReachability(graph: graph, targets: ["cg_if_returns"], scope: .passesValues)
        XCTAssertEqual(names(values), ["cg_if_returns", "cg_if_wrapper"], "the wrapper is reached, its callers are not")
        XCTAssertEqual(values.functions.map(\.passesNothingBack), [false, true], "the wrapper hands nothing on")
        let unit = try KthreadReachability(graph: graph, targets: ["cg_if_returns"], scope: .unit)
        let path = try XCTUnwrap(unit.shortestPath(fromFunctionNamed: "cg_thread_fn"))
        XCTAssertEqual(path.map(\.name), ["cg_thread_fn", "cg_if_wrapper", "cg_if_returns"])
        XCTAssertEqual(path.map(\.passesNothingBack), [true, true, false])
        XCTAssertEqual(unit.valueStop(on: path)?.name, "cg_if_wrapper")
        XCTAssertEqual(try KthreadReachability(decoding: unit.encode()), unit, "the marks survive encoding")
    }

    func testUnitRecordNeedsOneUnit() throws {
        let graph = try fixtureGraph()
        let mixed = KthreadReachability(graph: graph, targetNodes: [try graph.node("cg_leaf"), try graph.node("cg_b_global")], scope: .unit)
        XCTAssertNil(mixed.targetUnit)
        XCTAssertThrowsError(try KthreadReachability(decoding: mixed.encode())) {
            XCTAssertEqual($0 as? KthreadReachabilityError, .malformed("a unit record's targets are not in one compilation unit"))
        }
    }

    func testGraphCacheRoundTripAndCorruption() throws {
        var graph = try fixtureGraph()
        graph.buildID = graph.buildID ?? "00ff"
        let dir = try TestBed.shared.scratch("cg-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try CallGraphCache.store(graph, in: dir)
        XCTAssertEqual(url.lastPathComponent, "callgraph-\(graph.buildID!).kpcg")
        XCTAssertEqual(try CallGraphCache.load(from: url), graph)
        let corrupt = dir.appendingPathComponent("corrupt.kpcg")
        try Data(graph.serialized().dropLast(1)).write(to: corrupt)
        XCTAssertThrowsError(try CallGraphCache.load(from: corrupt)) { error in
            guard case .badCache(let path, _) = error as? CallGraphError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, corrupt.path)
        }
    }
}
