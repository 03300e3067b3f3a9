import ArgumentParser
import Foundation
import PatchModel
import KthreadSafety

/// Builds the whole debug-vmlinux call graph from DWARF, stores it in the cache,
/// loads it back and answers one reverse-reachability query.
struct CallGraphBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callgraph",
        abstract: "Whole-vmlinux DWARF call graph: build time, peak RSS, cache size, cache load + query time.")

    @Option(help: "The debug vmlinux (default: the test bed's).")
    var vmlinux: String = {
        let bed = ProcessInfo.processInfo.environment["KPATCH_TESTBED"] ?? ".testbed"
        return "\(bed)/kernel/6.1.0-56-amd64/dbg/vmlinux-6.1.0-56-amd64"
    }()
    @Option(help: "Threads walking compilation units (each opens its own libdwfl session).")
    var threads = 2
    @Option(help: "Function to query in reverse (which functions reach it).")
    var target = "shrink_node"
    @Option(help: "Cache directory (default: a fresh temporary one, removed afterwards).")
    var cacheDir: String?

    func run() throws {
        let cacheDirectory = cacheDir.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("kpatchctl-bench-\(getpid())")
        defer { if cacheDir == nil { try? FileManager.default.removeItem(at: cacheDirectory) } }

        let buildStart = Date()
        let graph = try CallGraphBuilder.build(path: vmlinux, threads: threads)
        let buildSeconds = Date().timeIntervalSince(buildStart)
        let peakMB = peakRSSMegabytes()
        let cacheFile = try CallGraphCache.store(graph, in: cacheDirectory)
        let cacheBytes = (try FileManager.default.attributesOfItem(atPath: cacheFile.path)[.size] as? Int) ?? 0

        let loadStart = Date()
        let loaded = try CallGraphCache.load(from: cacheFile, flowsFrom: vmlinux)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let queryStart = Date()
        let reach = try KthreadReachability(graph: loaded, targets: [target])
        let querySeconds = Date().timeIntervalSince(queryStart)

        print("vmlinux:          \(vmlinux)")
        print("threads:          \(threads)")
        print("functions:        \(graph.nodeCount)")
        print("edges:            \(graph.edgeCount)")
        print("kthread spawns:   \(graph.kthreadSpawns.count)")
        print(String(format: "build wall time:  %.2f s", buildSeconds))
        print(String(format: "peak RSS:         %.0f MB", peakMB))
        print(String(format: "cache size:       %.1f MB", Double(cacheBytes) / 1_048_576))
        print(String(format: "cache load:       %.1f ms", loadSeconds * 1000))
        print(String(format: "query:            %.1f ms (%@: %d functions reach it, %d kthread entries)",
                     querySeconds * 1000, target, reach.functions.count, reach.kthreadEntries.count))
        print(String(format: "load + query:     %.1f ms", (loadSeconds + querySeconds) * 1000))
        print("reachability:     \(reach.encode().count) bytes encoded (what a patch of \(target) would carry)")
    }
}
