import ArgumentParser
import FoundationEssentials
import PatchModel
import KthreadSafety

/// `kpatchctl callgraph`: which kthread entry functions reach a function in
/// the direct-call graph read from DWARF.
struct CallGraphQuery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callgraph",
        abstract: "Read a DWARF call graph and show which kthread entry functions reach a function.",
        discussion: """
            The graph has an edge for every direct call (DW_TAG_call_site with DW_AT_call_origin), \
            tail call and inlined function (DW_TAG_inlined_subroutine) in the debug info of FILE: a \
            module (.ko/.o) or the debug vmlinux. Kthread entry functions are found statically: \
            constant functions passed as the first argument to kthread_create_on_node/_on_cpu \
            (kthread_run and friends).

            What it cannot see: calls through function pointers (ops tables, callbacks, the \
            thread_fn that smpboot_thread_fn calls), calls from assembly, and calls without a \
            call-site DIE. A kthread reaching FUNC only through a pointer is not reported.
            """)

    @Option(name: .customLong("from-dwarf"), help: ArgumentHelp("ELF file with DWARF (.ko, .o, debug vmlinux).", valueName: "file"))
    var file: String
    @Option(help: ArgumentHelp("Function to reach (repeatable; same-named statics all count).", valueName: "func"))
    var reaches: [String]
    @Option(name: .customLong("from"), help: ArgumentHelp("Also show the path from this function (repeatable), e.g. a kthread entry not found statically.", valueName: "func"))
    var sources: [String] = []
    @Option(help: ArgumentHelp("Cache the graph here, keyed by the file's build id.", valueName: "dir"))
    var cacheDir: String?
    @Flag(help: "For each --from path, every hop: how the call is made and what the caller keeps of what the callee hands back.")
    var explain = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if reaches.isEmpty { throw ValidationError("give at least one --reaches FUNC") }
    }

    func run() throws {
        let graph: CallGraph, reach: KthreadReachability
        do {
            graph = try cacheDir.map { try CallGraphCache.graph(for: file, cacheDirectory: URL(fileURLWithPath: $0)) }
                ?? CallGraphBuilder.build(path: file)
            reach = try KthreadReachability(graph: graph, targets: reaches)
        } catch {
            throw fail(error, code: .failure, json: json)
        }
        let result = CallGraphQueryResult(file: file, graph: graph, reachability: reach, sources: sources, explain: explain)
        if json { return try KthreadJSON.print(result) }
        print("\(file): \(result.functions) functions, \(result.edges) direct-call edges"
              + (result.buildID.map { ", build id \($0)" } ?? ""))
        print("\(result.reachingCount) functions reach \(result.targets.map(\.function.description).joined(separator: ", "))")
        for target in result.targets { print("  \(target.function): \(target.interface)") }
        print("kthread entry functions found statically that reach it: \(result.kthreadEntries.count)")
        for entry in result.kthreadEntries {
            print("  \(entry.entry) (started by \(entry.startedBy.joined(separator: ", ")))")
            print("    " + entry.path.map(\.name).joined(separator: " -> "))
        }
        for source in result.from {
            if let path = source.path {
                print("from \(source.function): " + path.map(\.name).joined(separator: " -> "))
                for hop in source.hops ?? [] { print("  \(hop.caller) -> \(hop.callee): \(hop.kind), \(hop.keeps)") }
            } else {
                print("from \(source.function): does not reach it")
            }
        }
        print("note: \(KthreadSafetyReport.limitationText)")
    }
}

struct CallGraphQueryResult: Encodable {
    struct EntryPath: Encodable {
        var entry: FunctionRef
        var startedBy: [String]
        var path: [FunctionRef]
    }
    struct Target: Encodable {
        var function: FunctionRef
        /// What its prototype lets it hand back to callers (`FunctionInterface`).
        var interface: String
    }
    struct SourcePath: Encodable {
        var function: String
        var path: [FunctionRef]?
        /// With `--explain`: one per call on the path.
        var hops: [Hop]?
    }
    /// One call on a path, as the value-flow search saw it (`CallSiteFlow`).
    struct Hop: Encodable {
        var caller: String
        var callee: String
        /// `call`, `tail call` or `inlined`.
        var kind: String
        /// What the caller keeps of what the callee hands back.
        var keeps: String
    }

    var file: String
    var buildID: String?
    var functions: Int
    var edges: Int
    var targets: [Target]
    var reachingCount: Int
    var kthreadEntries: [EntryPath]
    var from: [SourcePath]
    var limitation = KthreadSafetyReport.limitationText

    init(file: String, graph: CallGraph, reachability reach: KthreadReachability, sources: [String], explain: Bool = false) {
        self.file = file
        buildID = graph.buildID
        functions = graph.nodeCount
        edges = graph.edgeCount
        targets = reach.targets.map { target in
            let interface = graph.nodes(named: target.name).first { graph.unit(of: $0) == target.unit }.map { graph.interface(of: $0) }
            return Target(function: target.ref, interface: (interface ?? .unknown).description)
        }
        reachingCount = reach.functions.count - reach.targetCount
        kthreadEntries = reach.kthreadEntries.map { index in
            let entry = reach.functions[index].ref
            let spawners = graph.kthreadSpawns.filter { graph.function(Int($0.entry)) == entry }
                .map { "\(graph.name(of: Int($0.spawner))) via \(graph.name(of: Int($0.creator)))" }
            return EntryPath(entry: entry, startedBy: Array(Set(spawners)).sorted(), path: reach.path(from: index).callPath)
        }.sorted { ($0.path.count, $0.entry.name) < ($1.path.count, $1.entry.name) }
        from = sources.map { source in
            let path = reach.shortestPath(fromFunctionNamed: source)
            return SourcePath(function: source, path: path?.callPath, hops: explain ? path.map { Self.hops(graph: graph, path: $0) } : nil)
        }
    }

    /// Each frame on the path, the bodies inlined into it down to the one making the call, then the call.
    private static func hops(graph: CallGraph, path: [KthreadReachability.Function]) -> [Hop] {
        func nodes(_ name: String, unit: String?) -> [Int] {
            graph.nodes(named: name).filter { unit == nil || graph.unit(of: $0) == unit }
        }
        var hops: [Hop] = []
        for (frame, callee) in zip(path, path.dropFirst()) {
            let bodies = frame.via
            for (outer, inner) in zip([frame.name] + bodies, bodies) {
                hops.append(Hop(caller: outer, callee: inner, kind: CallKind.inlined.description, keeps: "runs in \(frame.name)'s frame"))
            }
            let frames = Set(nodes(frame.name, unit: frame.unit))
            let owners = Set(bodies.last.map { nodes($0, unit: nil) } ?? Array(frames))
            let caller = bodies.last ?? frame.name
            var hop = Hop(caller: caller, callee: callee.name, kind: "?", keeps: "(no call in the graph)")
            search: for target in nodes(callee.name, unit: callee.unit) {
                for edge in 0..<graph.edgeCount where graph.edgeCallee[edge] == UInt32(target) && owners.contains(Int(graph.edgeCaller[edge])) {
                    let kind = CallKind(rawValue: graph.edgeKind[edge]) ?? .call
                    if kind == .inlined {
                        hop = Hop(caller: caller, callee: callee.name, kind: kind.description, keeps: "runs in \(frame.name)'s frame")
                        break search
                    }
                    for site in graph.frameFlows(ofEdge: edge) where frames.contains(site.frame) {
                        hop = Hop(caller: caller, callee: callee.name, kind: kind.description, keeps: "\(frame.name) " + site.flow.description)
                        break search
                    }
                }
            }
            hops.append(hop)
        }
        return hops
    }
}
