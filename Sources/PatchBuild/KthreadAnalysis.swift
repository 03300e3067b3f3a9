import FoundationEssentials
import PatchCore

/// The build-time half of kthread safety: for each patched object, which
/// functions reach the replaced ones in the running code (DWARF call graph of the
/// original object), stored in the patch for `apply`; and a warning for every
/// unconverted kthread entry function of that object that reaches one, and for
/// every kthread entry that is itself replaced.
struct KthreadAnalysis {
    struct Result {
        var blobs: [[UInt8]] = []
        var warnings: [String] = []
    }

    /// `sources`: livepatch object name -> the file with its DWARF (the original
    /// module build, or the debug vmlinux) and how to load its graph.
    /// `callbackCallees`: per object, running functions the patch's callbacks call;
    /// they count as patched (those the graph does not know are left out).
    static func analyse(functions: [PatchMetadata.Function], callbackCallees: [String: [String]] = [:],
                        graphs: [String: () throws -> CallGraph]) throws -> Result {
        var result = Result()
        for (object, loadGraph) in graphs.sorted(by: { $0.key < $1.key }) {
            let replaced = Set(functions.filter { $0.object == object }.map { FunctionRef.baseName($0.name) })
            let callees = Set((callbackCallees[object] ?? []).map { FunctionRef.baseName($0) })
            guard !replaced.isEmpty || !callees.isEmpty else { continue }
            let graph = try loadGraph()
            let names = replaced.union(callees.filter { !graph.nodes(named: $0).isEmpty }).sorted()
            guard !names.isEmpty else { continue }
            let reach = try KthreadReachability(graph: graph, targets: names)
            result.blobs.append(reach.encode())
            for path in reach.kthreadEntryPaths {
                guard let entry = path.first?.name, let patched = path.last?.name else { continue }
                if path.count == 1 {
                    result.warnings.append("\(object): kthread entry \(entry) is itself replaced: it is resident in its kthreads, "
                        + "which would never switch (apply refuses while such a kthread runs, unless --allow-kthread)")
                } else if KthreadConversion.loop(entry: entry) == nil {
                    // A converted entry (generic dispatch loop) may reach patched code: it switches between units of work.
                    result.warnings.append("\(object): kthread entry \(entry) reaches patched \(patched): "
                        + path.map(\.name).joined(separator: " -> ")
                        + " (apply refuses while such a kthread runs, unless --allow-kthread)")
                }
            }
        }
        return result
    }
}
