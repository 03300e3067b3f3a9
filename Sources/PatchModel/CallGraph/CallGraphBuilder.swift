import CElf
import Dispatch
import FoundationEssentials
import Synchronization

/// Reads a direct-call graph from an ELF file's DWARF (a `.o`, a `.ko`, or the
/// debug vmlinux). With `threads` > 1 each thread opens its own libdwfl session
/// (libdw 0.188 is not thread-safe within one session) and walks every n-th
/// compilation unit; the partial graphs are merged by name.
public enum CallGraphBuilder {
    public static func build(path: String, threads: Int = 1) throws -> CallGraph {
        let first = try DwarfFile(path: path)
        let offsets = first.unitOffsets()
        let count = max(1, min(threads, offsets.count))
        var graph: CallGraph
        if count == 1 {
            let partial = PartialCallGraph()
            for offset in offsets { partial.walkUnit(of: first, at: offset) }
            graph = merge([partial.walked])
        } else {
            graph = try walkInParallel(path: path, offsets: offsets, count: count)
        }
        graph.buildID = first.buildID
        graph.flows = try CallSiteFlows(path: path)
        return graph
    }

    /// `count` workers, each with its own libdwfl session and partial graph, made and
    /// filled inside the worker, which hands back only a value: nothing mutable is
    /// shared but the result slots, under the mutex (the closure is @Sendable, so the
    /// compiler checks it).
    private static func walkInParallel(path: String, offsets: [Dwarf_Off], count: Int) throws -> CallGraph {
        let slots = Mutex<[Int: Result<PartialCallGraph.Walked, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: count) { @Sendable slot in
            let walked: Result<PartialCallGraph.Walked, any Error>
            do {
                let file = try DwarfFile(path: path)
                let partial = PartialCallGraph()
                var index = slot
                while index < offsets.count {
                    partial.walkUnit(of: file, at: offsets[index])
                    index += count
                }
                walked = .success(partial.walked)
            } catch {
                walked = .failure(error)
            }
            slots.withLock { $0[slot] = walked }
        }
        return try slots.withLock { walked in try merge((0..<count).map { try walked[$0]!.get() }) }
    }

    static func merge(_ partials: [PartialCallGraph.Walked]) -> CallGraph {
        var graph = CallGraph()
        graph.units.append("")
        var nameIDs: [String: UInt32] = [:]
        var nodeByKey: [UInt64: UInt32] = [:]
        var edges: [UInt64] = []
        var addresses: [UInt64: UInt32] = [:]
        var spawns: [(UInt32, UInt64, UInt32)] = []
        var sites: [(pair: UInt64, site: UInt64, subprogram: UInt64, frame: UInt32)] = []
        var signed: Set<UInt32> = []

        for partial in partials {
            let unitBase = UInt32(graph.units.count)
            for unit in partial.units { graph.units.append(unit) }
            let nameMap: [UInt32] = partial.names.map { name in
                if let id = nameIDs[name] { return id }
                let id = UInt32(graph.names.append(name))
                nameIDs[name] = id
                return id
            }
            let nodeMap: [UInt32] = partial.nodeKeys.map { key in
                let localUnit = UInt32(truncatingIfNeeded: key)
                let name = nameMap[Int(key >> 32)]
                let unit = localUnit == 0 ? 0 : unitBase + localUnit - 1
                let globalKey = UInt64(name) << 32 | UInt64(unit)
                if let node = nodeByKey[globalKey] { return node }
                let node = UInt32(graph.nodeName.count)
                graph.nodeName.append(name)
                // Global functions start as "defined elsewhere"; definitions fill the unit in below.
                graph.nodeUnit.append(unit)
                nodeByKey[globalKey] = node
                return node
            }
            for (node, unit) in partial.definedIn { graph.nodeUnit[Int(nodeMap[Int(node)])] = unitBase + unit }
            graph.nodeInterface += Array(repeating: FunctionInterface.unknown.rawValue, count: graph.nodeName.count - graph.nodeInterface.count)
            for (node, interface) in partial.interfaces {
                let global = Int(nodeMap[Int(node)])
                graph.nodeInterface[global] = max(FunctionInterface(rawValue: graph.nodeInterface[global]) ?? .unknown, interface).rawValue
            }
            graph.nodeSignature += Array(repeating: FunctionSignature.unknown.rawValue, count: graph.nodeName.count - graph.nodeSignature.count)
            for (node, signature) in partial.signatures {
                let global = nodeMap[Int(node)]
                // Several definitions of one global name: every channel any of them opens.
                let before = signed.insert(global).inserted ? 0 : graph.nodeSignature[Int(global)]
                graph.nodeSignature[Int(global)] = before | signature.rawValue
            }
            for (node, low, high) in partial.ranges {
                graph.rangeNode.append(nodeMap[Int(node)]); graph.rangeLow.append(low); graph.rangeHigh.append(high)
            }
            func global(_ pair: UInt64) -> UInt64 { UInt64(nodeMap[Int(pair >> 32)]) << 32 | UInt64(nodeMap[Int(pair & 0xffff_ffff)]) }
            sites += partial.sites.map { (global($0.0), $0.1, $0.2, nodeMap[Int($0.3)]) }
            for edge in partial.edges {
                let caller = nodeMap[Int(edge >> 34)]
                let callee = nodeMap[Int((edge >> 2) & 0xffff_ffff)]
                edges.append(UInt64(caller) << 34 | UInt64(callee) << 2 | (edge & 3))
            }
            for (address, node) in partial.entryAddresses { addresses[address] = nodeMap[Int(node)] }
            for (spawner, address, creator) in partial.spawns {
                spawns.append((nodeMap[Int(spawner)], address, nodeMap[Int(creator)]))
            }
        }

        // One edge per (caller, callee): sorting puts the lowest kind (a real call) first.
        edges.sort()
        graph.edgeCaller.reserveCapacity(edges.count)
        var previousPair = UInt64.max
        // A call edge whose callee is also inlined into the same caller keeps everything (the inlined body's
        // value is used wherever its code is); tail calls have sites of their own.
        var keepsEverything: [Bool] = []
        for edge in edges {
            guard edge >> 2 != previousPair else {
                if edge & 3 == UInt64(CallKind.inlined.rawValue) { keepsEverything[keepsEverything.count - 1] = true }
                continue
            }
            previousPair = edge >> 2
            graph.edgeCaller.append(UInt32(edge >> 34))
            graph.edgeCallee.append(UInt32((edge >> 2) & 0xffff_ffff))
            graph.edgeKind.append(UInt8(edge & 3))
            keepsEverything.append(false)
        }
        graph.placeSites(sites, keepsEverything: keepsEverything)
        var seenSpawns = Set<[UInt32]>()
        for (spawner, address, creator) in spawns {
            guard let entry = addresses[address], seenSpawns.insert([spawner, entry, creator]).inserted else { continue }
            graph.kthreadSpawns.append(KthreadSpawn(spawner: spawner, entry: entry, creator: creator, address: address))
        }
        return graph
    }
}

extension CallGraph {
    /// Groups the call sites by edge (a counting sort on the edge index). A call edge that keeps everything
    /// (the same callee also inlined) gets one `keepsEverythingSite`, run by the edge's caller.
    fileprivate mutating func placeSites(_ sites: [(pair: UInt64, site: UInt64, subprogram: UInt64, frame: UInt32)],
                                         keepsEverything: [Bool]) {
        var edgeOfSite = [Int32](repeating: -1, count: sites.count)
        var count = [UInt32](repeating: 0, count: edgeCount + 1)
        for (i, site) in sites.enumerated() {
            guard let edge = edge(from: Int(site.pair >> 32), to: Int(site.pair & 0xffff_ffff)) else { continue }
            edgeOfSite[i] = Int32(edge)
            count[edge + 1] += 1
        }
        let opaque = keepsEverything.indices.map { keepsEverything[$0] && CallKind(rawValue: edgeKind[$0]) != .inlined }
        for e in 0..<edgeCount where opaque[e] { count[e + 1] += 1 }
        for e in 0..<edgeCount { count[e + 1] += count[e] }
        edgeSiteStart = count
        siteDie = [UInt64](repeating: 0, count: Int(count[edgeCount]))
        siteSubprogram = siteDie
        siteFrame = [UInt32](repeating: 0, count: siteDie.count)
        var fill = count
        for e in 0..<edgeCount where opaque[e] {
            siteDie[Int(fill[e])] = CallSiteFlows.keepsEverythingSite
            siteFrame[Int(fill[e])] = edgeCaller[e]
            fill[e] += 1
        }
        for (i, site) in sites.enumerated() where edgeOfSite[i] >= 0 {
            let e = Int(edgeOfSite[i])
            siteDie[Int(fill[e])] = site.site
            siteSubprogram[Int(fill[e])] = site.subprogram
            siteFrame[Int(fill[e])] = site.frame
            fill[e] += 1
        }
    }
}
