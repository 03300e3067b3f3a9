import XCTest
import TestSupport
@testable import KthreadSafety
@testable import PatchModel

/// The call graph of the pinned kernel's debug vmlinux (skipped when the test
/// bed has not extracted it): unconverted vmlinux kthreads and what they call.
/// The graph comes from the test bed's graph cache, where `build` keeps it (built there on a first run).
final class VmlinuxCallGraphTests: XCTestCase {
    private static let graph: Result<CallGraph, Error>? = {
        let path = TestBed.shared.debugVmlinux.path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return Result { try CallGraphCache.graph(for: path, cacheDirectory: TestBed.shared.buildCache.appendingPathComponent("callgraph"), threads: 2) }
    }()

    private func vmlinuxGraph() throws -> CallGraph {
        guard let graph = Self.graph else { throw XCTSkip("no debug vmlinux at \(TestBed.shared.debugVmlinux.path)") }
        return try graph.get()
    }

    func testKswapdReachesBalancePgdatDirectly() throws {
        let graph = try vmlinuxGraph()
        let reach = try KthreadReachability(graph: graph, targets: ["balance_pgdat"], scope: .unit)
        XCTAssertEqual(reach.targets.map(\.ref), [FunctionRef(name: "balance_pgdat", unit: "mm/vmscan.c")])
        let entries = reach.kthreadEntries.map { reach.functions[$0].name }
        XCTAssertTrue(entries.contains("kswapd"), "static kthread entries reaching balance_pgdat: \(entries)")
        XCTAssertEqual(reach.shortestPath(fromFunctionNamed: "kswapd")?.map(\.ref),
                       [FunctionRef(name: "kswapd", unit: "mm/vmscan.c"), FunctionRef(name: "balance_pgdat", unit: "mm/vmscan.c")])
        let spawners = graph.kthreadSpawns.filter { graph.name(of: Int($0.entry)) == "kswapd" }.map { graph.name(of: Int($0.spawner)) }
        XCTAssertEqual(spawners, ["kswapd_run"])
    }

    func testKhugepagedPathThroughItsScanLoop() throws {
        let graph = try vmlinuxGraph()
        let direct = try KthreadReachability(graph: graph, targets: ["khugepaged_do_scan"], scope: .unit)
        XCTAssertEqual(direct.shortestPath(fromFunctionNamed: "khugepaged")?.map(\.name), ["khugepaged", "khugepaged_do_scan"])
        let deeper = try KthreadReachability(graph: graph, targets: ["hpage_collapse_scan_pmd"], scope: .unit)
        XCTAssertEqual(deeper.shortestPath(fromFunctionNamed: "khugepaged")?.map(\.name),
                       ["khugepaged", "khugepaged_do_scan", "khugepaged_scan_mm_slot", "hpage_collapse_scan_pmd"])
        XCTAssertNil(deeper.shortestPath(fromFunctionNamed: "kswapd"))
    }

    func testKthreadEntriesWithoutCallSiteValueComeFromRelocations() throws {
        // GCC emitted no first-argument DW_TAG_call_site_parameter at these two
        // kthread_create_on_node calls; the `mov $fn, %rdi` relocation names the function.
        let graph = try vmlinuxGraph()
        let spawns = Set(graph.kthreadSpawns.map { "\(graph.name(of: Int($0.spawner))) -> \(graph.name(of: Int($0.entry)))" })
        XCTAssertTrue(spawns.contains("audit_list_rules_send -> audit_send_list_thread"), "\(spawns.sorted())")
        XCTAssertTrue(spawns.contains("sugov_kthread_create -> kthread_worker_fn"), "\(spawns.sorted())")
        // And from DWARF values: kswapd, and the kthread-worker creator passing kthread_worker_fn on.
        XCTAssertTrue(spawns.contains("kswapd_run -> kswapd"))
        XCTAssertTrue(spawns.contains("__kthread_create_worker -> kthread_worker_fn"))
    }

    func testSameNamedStaticsStayDistinctAndBuildIDMatchesTheFile() throws {
        let graph = try vmlinuxGraph()
        let showNodes = graph.nodes(named: "s_show")
        XCTAssertGreaterThanOrEqual(showNodes.count, 4)
        XCTAssertEqual(Set(showNodes.map { graph.unit(of: $0) }).count, showNodes.count)
        XCTAssertEqual(graph.buildID, try ELFBuildID.read(path: TestBed.shared.debugVmlinux.path))
        XCTAssertEqual(graph.buildID?.count, 40)
    }

    func testCacheRoundTripOfTheWholeGraph() throws {
        let graph = try vmlinuxGraph()
        let dir = try TestBed.shared.scratch("cg-vmlinux-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CallGraphCache.store(graph, in: dir)
        XCTAssertEqual(try CallGraphCache.load(from: file), graph)
        // Keyed by the file's build id: the cache is what graph(for:) returns.
        XCTAssertEqual(try CallGraphCache.graph(for: TestBed.shared.debugVmlinux.path, cacheDirectory: dir), graph)
    }

    /// The guest's kthreads (`kpatchctl kthreads --json` in the pinned kernel under QEMU, the survey's snapshot).
    private func guestKthreads() throws -> [LiveKthread] {
        struct Snapshot: Decodable { var pid: Int; var comm: String; var stack: [StackFrame] }
        let url = TestBed.shared.root.appendingPathComponent("examples/vmlinux/kthread-survey/guest-kthreads.json")
        return try JSONDecoder().decode([Snapshot].self, from: Data(contentsOf: url)).map { LiveKthread(pid: $0.pid, comm: $0.comm, stack: $0.stack) }
    }

    /// The check of a vmlinux patch replacing `names`, with the records `build` makes (value flow and data).
    private func report(_ names: [String]) throws -> KthreadSafetyReport {
        let graph = try vmlinuxGraph()
        let functions = names.map { ReplacedFunction(object: "vmlinux", name: $0, sympos: 0, newSymbol: "klp_new_" + $0) }
        let path = TestBed.shared.debugVmlinux.path
        let records = try KthreadAnalysis.analyse(functions: functions, graphs: ["vmlinux": { graph }],
                                                  code: ["vmlinux": { try DataAccessReader(path: path) }]).blobs
        return KthreadSafetyCheck(replaced: functions, reachabilities: try records.map { try KthreadReachability(decoding: $0) })
            .evaluate(try guestKthreads())
    }

    /// Issue 21's long generic paths: ksmd and khugepaged reach netlink_unicast through kobject_put ->
    /// kobject_uevent and the netlink broadcast path (about 50 calls). The value stops on the way: notes,
    /// naming where; kauditd, which acts on the result in its loop, is refused. (Without resume points, as
    /// here, kdevtmpfs is refused through devtmpfs_setup, its prologue; the survey, with them, lets it through.)
    func testLongGenericPathsAreNotes() throws {
        let netlink = try report(["netlink_unicast"])
        XCTAssertTrue(netlink.refusals.map(\.comm).contains("kauditd"))
        XCTAssertTrue(Set(netlink.refusals.map(\.comm)).isSubset(of: ["kauditd", "kdevtmpfs"]), "\(netlink.refusals.map(\.comm))")
        for comm in ["ksmd", "khugepaged"] {
            XCTAssertNotNil(netlink.notes.first { $0.comm == comm }?.nothingComesBackThrough, comm)
        }
    }

    /// free_pages (session 8, flow inside a function): the callers up the direct-compaction paths consume what
    /// comes back (vmemmap_remap_range never reads the freed page table again; the allocator's callers branch on
    /// a status), so kcompactd0, khugepaged and the rcu kthreads are notes. ksmd too since calls are followed per
    /// frame (session 12): pgd_free tail-calls free_pages with its own parameter, and __mmdrop, which runs
    /// mm_free_pgd inlined, keeps nothing of the pgd it passed (it does not read it again). (Without resume
    /// points, as here, kdevtmpfs is refused through devtmpfs_setup, its prologue.)
    func testFreePagesValueStopsBeforeTheCompactionKthreads() throws {
        let report = try report(["free_pages"])
        XCTAssertTrue(Set(report.refusals.map(\.comm)).isSubset(of: ["kdevtmpfs"]),
                      report.refusals.map { $0.path.map(\.name).joined(separator: " -> ") }.joined(separator: "\n"))
        for comm in ["kcompactd0", "khugepaged", "rcu_preempt", "kswapd0", "ksmd"] {
            let note = try XCTUnwrap(report.notes.first { $0.comm == comm }, comm)
            XCTAssertNotNil(note.nothingComesBackThrough, comm)
            XCTAssertFalse(note.path.map(\.name).contains("compact_zone"), note.path.map(\.name).joined(separator: " -> "))
        }
    }

    /// The OOM killer's functions (what the wide put-task-struct fix replaces among others): an allocation on a
    /// kthread's path can enter `out_of_memory(&oc)`, and `oom_evaluate_task` writes `oc`, an object in the
    /// allocator's own frame. `__alloc_pages_slowpath` never reads `oc` again (its bytes are followed from the
    /// frame's layout until the next OOM attempt fills them again, `rep stos` included) and only branches on
    /// out_of_memory's bool (GCC's reuse of the 1 it then knows carries nothing); the memcg path's
    /// `try_charge_memcg` does the same with mem_cgroup_out_of_memory's bool. So the value stops in the
    /// allocator's frame: kauditd, kdevtmpfs, khungtaskd and oom_reaper are notes naming that frame, as are the
    /// rcu_tasks kthreads (whose `cblist_init_generic` stores nothing of an allocation's value in data their loop
    /// reads). kswapd0 stays refused: `balance_pgdat` stores a frame address in `current->reclaim_state`, so
    /// its frame, where `lru_gen_age_node`'s `oc` lives, is not followed.
    func testOomKillerValueStopsInTheAllocatorsFrame() throws {
        let report = try report(["oom_evaluate_task", "__oom_kill_process"])
        let refused = Set(report.refusals.map(\.comm))
        XCTAssertEqual(refused, ["kswapd0"], report.refusals.map { $0.sharedData ?? $0.path.map(\.name).joined(separator: " -> ") }
            .joined(separator: "\n"))
        for comm in ["kauditd", "kdevtmpfs", "khungtaskd", "oom_reaper", "rcu_tasks_kthread"] {
            let note = try XCTUnwrap(report.notes.first { $0.comm == comm }, comm)
            let path = note.path.map(\.name)
            XCTAssertTrue(path.contains("out_of_memory"), "\(comm): \(path)")
            // Where it stops is a frame (a function with its own code), not a body inlined into one.
            XCTAssertFalse(["select_bad_process", "__alloc_pages_may_oom", "mem_cgroup_oom"].contains(note.nothingComesBackThrough ?? ""),
                           "\(comm) stops at \(note.nothingComesBackThrough ?? "nil"): \(path)")
        }

        // The two frames where the value stops, read from their code.
        let graph = try vmlinuxGraph()
        func flow(_ frame: String, _ callee: String, _ caller: String) throws -> CallSiteFlow {
            let edge = try XCTUnwrap(graph.edge(from: try XCTUnwrap(graph.nodes(named: caller).first), to: try XCTUnwrap(graph.nodes(named: callee).first)),
                                     "\(caller) -> \(callee)")
            var merged = CallSiteFlow.keepsNothing
            for site in graph.frameFlows(ofEdge: edge) where graph.name(of: site.frame) == frame { merged.formUnion(site.flow) }
            return merged
        }
        let slowpath = try flow("__alloc_pages_slowpath", "out_of_memory", "__alloc_pages_may_oom")
        XCTAssertFalse(slowpath.keepsArgument(0), "oc is not read again: \(slowpath)")
        XCTAssertFalse(slowpath.carriesResultOn, "only branched on: \(slowpath)")
        let charge = try flow("try_charge_memcg", "mem_cgroup_out_of_memory", "mem_cgroup_oom")
        XCTAssertTrue(charge.usesResult, charge.description)
        XCTAssertFalse(charge.carriesResultOn, "the bool is branched on; the 1 GCC reuses after is a constant: \(charge)")
    }

    /// kauditd acts on netlink_unicast's result on every iteration (kauditd_send_queue retries with it): refused.
    func testKauditdNetlinkUnicastRetryIsStillRefused() throws {
        let report = try report(["netlink_unicast"])
        let kauditd = try XCTUnwrap(report.refusals.first { $0.comm == "kauditd" })
        XCTAssertEqual(kauditd.path.map(\.name), ["kauditd_thread", "kauditd_send_queue", "netlink_unicast"])
    }

    /// kswapd's own sleep test decides its loop: refused; watchdog is khungtaskd's resident frame: refused.
    /// kswapd_try_to_sleep is inlined into kswapd: kswapd's frame makes the call, and the path shows the body.
    func testKswapdAndResidentCasesAreStillRefused() throws {
        let kswapd = try report(["prepare_kswapd_sleep"])
        XCTAssertEqual(kswapd.refusals.first { $0.comm == "kswapd0" }?.path.map(\.name),
                       ["kswapd", "kswapd_try_to_sleep", "prepare_kswapd_sleep"])
        XCTAssertEqual(try report(["watchdog"]).refusals.first { $0.comm == "khungtaskd" }?.reason, .resident)
    }
}
