import PatchModel

/// The build-time half of kthread safety: for each patched object, which
/// functions reach the replaced ones in the running code (DWARF call graph of the
/// original object), stored in the patch for `apply`; and a warning for every
/// unconverted kthread entry function of that object that reaches one, and for
/// every kthread entry that is itself replaced.
package struct KthreadAnalysis {
    package struct Result {
        package var blobs: [[UInt8]] = []
        package var warnings: [String] = []
    }

    /// `sources`: livepatch object name -> the file with its DWARF (the original
    /// module build, or the debug vmlinux) and how to load its graph.
    /// `callbackCallees`: per object, running functions the patch's callbacks call;
    /// they count as patched (those the graph does not know are left out).
    /// `resume`: per object, where its statically found kthreads can be asleep
    /// (vmlinux only); recorded for the unconverted ones that reach a target.
    /// `code`: per object, the reader of its machine code (the file its graph came from), for the data
    /// the replaced functions write and the thread functions read; without one a unit record falls back
    /// to the compilation unit as the loop's data.
    package static func analyse(functions: [PatchMetadata.Function], callbackCallees: [String: [String]] = [:],
                        graphs: [String: () throws -> CallGraph], resume: [String: KthreadResumeAnalysis] = [:],
                        code: [String: () throws -> DataAccessReader] = [:]) throws -> Result {
        var result = Result()
        for (object, loadGraph) in graphs.sorted(by: { $0.key < $1.key }) {
            let replaced = Set(functions.filter { $0.object == object }.map { FunctionRef.baseName($0.name) })
            let callees = Set((callbackCallees[object] ?? []).map { FunctionRef.baseName($0) })
            guard !replaced.isEmpty || !callees.isEmpty else { continue }
            let graph = try loadGraph()
            // Every replaced function is in its file's record; those that can hand values back also in the one
            // record whose paths carry a value back to the caller.
            // Those that use the running task go in a record searched through every function instead.
            var passingValues: [Int] = [], changingTask: [Int] = [], byUnit: [String: [Int]] = [:]
            for name in replaced.sorted() {
                let nodes = graph.nodes(named: name)
                guard !nodes.isEmpty else { throw CallGraphError.unknownFunction(name) }
                for node in nodes {
                    byUnit[graph.unit(of: node), default: []].append(node)
                    let interface = graph.interface(of: node)
                    if interface.changesCallingTask { changingTask.append(node) } else if interface.mayPassValuesBack { passingValues.append(node) }
                }
            }
            // What the patch's callbacks call runs at patch time, whatever its prototype: treated as passing values.
            for name in callees.subtracting(replaced).sorted() { passingValues += graph.nodes(named: name) }
            // Thread function -> entry address, for where its kthreads sleep.
            let entryAddresses = graph.kthreadSpawns.reduce(into: [String: UInt64]()) { $0[graph.name(of: Int($1.entry))] = $1.address }
            func attachResumePoints(_ reach: inout KthreadReachability) {
                guard let analysis = resume[object] else { return }
                let entries = Set(reach.kthreadEntries.filter { $0 >= reach.targetCount }.map { reach.functions[$0].name })
                    .filter { KthreadConversion.loop(entry: $0) == nil }
                let keepHop = reach.scope == .passesValues ? reach.valueHops(graph: graph) : { _, _ in true }
                reach.attach(entries.sorted().compactMap { entry in
                    entryAddresses[entry].flatMap { analysis.points(function: entry, address: $0) }
                }, keepHop: keepHop)
            }
            var warned: Set<String> = []
            for (scope, targets) in [(KthreadReachability.Scope.changesCallingTask, changingTask), (.passesValues, passingValues)]
            where !targets.isEmpty {
                var reach = KthreadReachability(graph: graph, targetNodes: targets, scope: scope, object: object)
                attachResumePoints(&reach)
                result.blobs.append(reach.encode())
                let paths = reach.kthreadEntryPaths.filter { !warned.contains($0[0].name) }
                result.warnings += entryWarnings(object: object, reach: reach, paths)
                warned.formUnion(paths.compactMap { $0.first?.name })
            }
            let reader = try code[object]?()
            for (unit, nodes) in byUnit.sorted(by: { $0.key < $1.key }) {
                var reach = KthreadReachability(graph: graph, targetNodes: nodes, scope: .unit, object: object)
                attachResumePoints(&reach)
                if let reader { reach.attachSharedData(graph: graph, reader: reader) }
                result.blobs.append(reach.encode())
                let paths = reach.kthreadEntryPaths.filter { !warned.contains($0[0].name) }
                result.warnings += entryWarnings(object: object, reach: reach, paths.filter { $0.count == 1 || $0.first?.unit == unit })
                let others = paths.filter { $0.count > 1 && $0.first?.unit != unit && KthreadConversion.loop(entry: $0[0].name) == nil }
                if !others.isEmpty {
                    let names = Set(reach.targets.map(\.name)).sorted().joined(separator: ", ")
                    let entries = others.map { $0[0].name }
                    result.warnings.append("\(object): \(names) (\(unit)): not refused for the \(entries.count) kthread entries "
                        + "in other files that reach it (" + entries.prefix(4).joined(separator: ", ") + (entries.count > 4 ? ", ..." : "")
                        + "): no value can come back from it to their loops (it hands nothing back, or on each path a caller "
                        + "uses nothing of what it called hands back)")
                }
            }
        }
        return result
    }

    /// The warning for each statically found kthread entry whose path refuses at apply time.
    private static func entryWarnings(object: String, reach: KthreadReachability, _ paths: [[KthreadReachability.Function]]) -> [String] {
        paths.compactMap { path in
            guard let entry = path.first?.name, let patched = path.last?.name else { return nil }
            if path.count == 1 {
                return "\(object): kthread entry \(entry) is itself replaced: it is resident in its kthreads, "
                    + "which would never switch (apply refuses while such a kthread runs, unless --allow-kthread)"
            }
            // A converted entry (generic dispatch loop) may reach patched code: it switches between units of work.
            guard KthreadConversion.loop(entry: entry) == nil else { return nil }
            let line = "\(object): kthread entry \(entry) reaches patched \(patched): " + path.callPath.map(\.name).joined(separator: " -> ")
            guard let table = reach.resumeTables.first(where: { reach.functions[$0.function].name == entry }) else {
                return line + " (apply refuses while such a kthread runs, unless --allow-kthread)"
            }
            let reaching = table.points.values.filter { !$0.isEmpty }.count
            return line + " (from \(reaching) of the \(table.points.count) calls it can sleep after; apply refuses while such a "
                + "kthread sleeps where a path can still run, unless --allow-kthread)"
        }
    }
}
