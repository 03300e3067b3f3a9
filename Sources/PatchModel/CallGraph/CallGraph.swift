/// How a caller reaches a callee in the DWARF.
public enum CallKind: UInt8, Codable, Sendable, CustomStringConvertible {
    /// `DW_TAG_call_site`: a call instruction.
    case call = 0
    /// `DW_TAG_call_site` with `DW_AT_call_tail_call`: a jump that never returns here.
    case tailCall = 1
    /// `DW_TAG_inlined_subroutine`: the callee's body was inlined into the caller.
    case inlined = 2

    public var description: String {
        switch self {
        case .call: return "call"
        case .tailCall: return "tail call"
        case .inlined: return "inlined"
        }
    }
}

/// A direct-call graph read from DWARF. Functions are nodes keyed by name plus
/// compilation unit: global functions are one node per name (the unit that
/// defines them, or "" when defined elsewhere), static ones one node per
/// (name, unit), so same-named statics in different files stay distinct.
/// Flat integer arrays keep a whole-vmlinux graph small and quick to save/load.
///
/// What it cannot see: calls through function pointers (ops tables, callbacks,
/// `smpboot_thread_fn` calling `ht->thread_fn`), calls from assembly, and
/// calls the compiler emitted without a call-site DIE.
public struct CallGraph: Equatable, Sendable {
    /// The same graph, wherever its flows are decoded from.
    public static func == (lhs: CallGraph, rhs: CallGraph) -> Bool {
        lhs.buildID == rhs.buildID && lhs.names == rhs.names && lhs.units == rhs.units && lhs.nodeName == rhs.nodeName
            && lhs.nodeUnit == rhs.nodeUnit && lhs.nodeInterface == rhs.nodeInterface && lhs.nodeSignature == rhs.nodeSignature
            && lhs.rangeNode == rhs.rangeNode && lhs.rangeLow == rhs.rangeLow && lhs.rangeHigh == rhs.rangeHigh
            && lhs.edgeCaller == rhs.edgeCaller && lhs.edgeCallee == rhs.edgeCallee && lhs.edgeKind == rhs.edgeKind
            && lhs.edgeSiteStart == rhs.edgeSiteStart && lhs.siteDie == rhs.siteDie && lhs.siteSubprogram == rhs.siteSubprogram
            && lhs.siteFrame == rhs.siteFrame
            && lhs.kthreadSpawns == rhs.kthreadSpawns
    }

    /// GNU build id (hex) of the file the graph was read from, if it has one.
    public var buildID: String?
    public var names = StringTable()
    /// Compilation-unit names; index 0 is "" (function not defined in this file).
    public var units = StringTable()
    public var nodeName: [UInt32] = []
    public var nodeUnit: [UInt32] = []
    /// `FunctionInterface` raw values, per node.
    public var nodeInterface: [UInt8] = []
    /// `FunctionSignature` raw values, per node (0xff: prototype unknown).
    public var nodeSignature: [UInt8] = []
    /// Code ranges of the defined functions (DWARF addresses of the analysed file): node, low, high.
    public var rangeNode: [UInt32] = []
    public var rangeLow: [UInt64] = []
    public var rangeHigh: [UInt64] = []
    /// Edges sorted by (caller, callee), one per pair.
    public var edgeCaller: [UInt32] = []
    public var edgeCallee: [UInt32] = []
    public var edgeKind: [UInt8] = []
    /// The call sites of each edge (calls and tail calls): those of edge e are
    /// `siteDie[edgeSiteStart[e]..<edgeSiteStart[e + 1]]` (`CallSiteFlows.keepsEverythingSite`: the same callee
    /// is also inlined by the caller), with the DIE offset and the node of the outermost subprogram whose code
    /// makes the call: the frame that runs it, the caller's own or the one its body is inlined into. What that
    /// frame keeps is decoded from them on demand.
    public var edgeSiteStart: [UInt32] = [0]
    public var siteDie: [UInt64] = []
    public var siteSubprogram: [UInt64] = []
    public var siteFrame: [UInt32] = []
    /// Where the call-site flows are decoded from (the file the graph was read from); nil: every call keeps everything.
    public var flows: CallSiteFlows?
    /// Functions passed as the thread function to a kthread creator, found statically.
    public var kthreadSpawns: [KthreadSpawn] = []

    public init() {}

    public var nodeCount: Int { nodeName.count }
    public var edgeCount: Int { edgeCaller.count }

    public func name(of node: Int) -> String { names[Int(nodeName[node])] }
    public func unit(of node: Int) -> String { units[Int(nodeUnit[node])] }

    public func interface(of node: Int) -> FunctionInterface {
        FunctionInterface(rawValue: nodeInterface[node]) ?? .unknown
    }

    public func signature(of node: Int) -> FunctionSignature { FunctionSignature(rawValue: nodeSignature[node]) }

    /// What the frames running edge `edge`'s calls keep of what the callee hands back, merged over its sites:
    /// an inlined body keeps everything; calls and tail calls are decoded (once) from the file the graph came from.
    public func flow(ofEdge edge: Int) -> CallSiteFlow {
        frameFlows(ofEdge: edge).reduce(into: CallSiteFlow.keepsNothing) { $0.formUnion($1.flow) }
    }

    /// Per frame (the node of the outermost function whose code makes the call: the edge's caller, or the
    /// function a body making it is inlined into), what it keeps of what the callee hands back, over its sites
    /// of edge `edge`. An inlined body, or no decoder: the edge's caller keeps everything.
    public func frameFlows(ofEdge edge: Int) -> [(frame: Int, flow: CallSiteFlow)] {
        var byFrame: [(frame: Int, flow: CallSiteFlow)] = []
        for site in siteFlows(ofEdge: edge) {
            if let i = byFrame.firstIndex(where: { $0.frame == site.frame }) { byFrame[i].flow.formUnion(site.flow) } else { byFrame.append((site.frame, site.flow)) }
        }
        return byFrame
    }

    /// Each site of edge `edge` (nil for an inlined body, or no decoder: the edge's caller keeps everything), its
    /// frame, and what the frame keeps.
    public func siteFlows(ofEdge edge: Int) -> [(site: Int?, frame: Int, flow: CallSiteFlow)] {
        let sites = Int(edgeSiteStart[edge])..<Int(edgeSiteStart[edge + 1])
        guard CallKind(rawValue: edgeKind[edge]) != .inlined, let flows, !sites.isEmpty else {
            return [(nil, Int(edgeCaller[edge]), .keepsEverything)]
        }
        return sites.map { site in
            (site, Int(siteFrame[site]), flows.flow(ofSite: site, die: siteDie[site], subprogram: siteSubprogram[site]).flow)
        }
    }

    /// Where the frame of call site `site` stores, outside its stack frame, what it keeps of a value the callee
    /// hands back through `channels` (instruction addresses); nil when that is not all known (its code not
    /// followed to the end, or such an argument kept in memory, whose later loads are not followed).
    public func keptValueStores(ofSite site: Int, through channels: ValueChannels) -> [UInt64]? {
        guard let decoded = flows?.flow(ofSite: site, die: siteDie[site], subprogram: siteSubprogram[site]) else { return nil }
        let arguments = channels.contains(.unknown) ? UInt8(0x3f) : (channels.rawValue >> 1) & 0x3f
        return decoded.unfollowed & arguments == 0 ? decoded.stores : nil
    }

    /// The functions the frame of `node` calls: its own calls and tail calls, and those made from the bodies
    /// inlined into it (their sites name it as the frame).
    public func frameCallees(of node: Int) -> Set<Int> {
        var found = Set(callees(of: node).filter { $0.kind != .inlined }.map(\.callee))
        for edge in 0..<edgeCount where edgeKind[edge] != CallKind.inlined.rawValue {
            for site in Int(edgeSiteStart[edge])..<Int(edgeSiteStart[edge + 1]) where siteFrame[site] == UInt32(node) {
                found.insert(Int(edgeCallee[edge]))
                break
            }
        }
        return found
    }

    /// The code ranges of a function (every definition of a global name).
    public func ranges(of node: Int) -> [(UInt64, UInt64)] {
        rangeNode.indices.filter { rangeNode[$0] == UInt32(node) }.map { (rangeLow[$0], rangeHigh[$0]) }
    }

    /// The index of the edge from `caller` to `callee`, if there is one.
    public func edge(from caller: Int, to callee: Int) -> Int? {
        var lo = 0, hi = edgeCaller.count
        let key = (UInt64(caller) << 32) | UInt64(callee)
        while lo < hi {
            let mid = (lo + hi) / 2
            if (UInt64(edgeCaller[mid]) << 32 | UInt64(edgeCallee[mid])) < key { lo = mid + 1 } else { hi = mid }
        }
        return lo < edgeCaller.count && edgeCaller[lo] == UInt32(caller) && edgeCallee[lo] == UInt32(callee) ? lo : nil
    }

    public func function(_ node: Int) -> FunctionRef {
        FunctionRef(name: name(of: node), unit: unit(of: node))
    }

    /// Every node with this name (several when statics share it). A name with
    /// a GCC clone suffix (`foo.isra.0`) matches `foo`.
    public func nodes(named name: String) -> [Int] {
        let nameIndices = Set(names.indices(of: FunctionRef.baseName(name)).map(UInt32.init))
        guard !nameIndices.isEmpty else { return [] }
        return nodeName.indices.filter { nameIndices.contains(nodeName[$0]) }
    }

    /// Callees of `node` with the edge kind, in node order.
    public func callees(of node: Int) -> [(callee: Int, kind: CallKind)] {
        var lo = 0, hi = edgeCaller.count
        let target = UInt32(node)
        while lo < hi {
            let mid = (lo + hi) / 2
            if edgeCaller[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        var result: [(Int, CallKind)] = []
        while lo < edgeCaller.count, edgeCaller[lo] == target {
            result.append((Int(edgeCallee[lo]), CallKind(rawValue: edgeKind[lo]) ?? .call))
            lo += 1
        }
        return result
    }
}

/// A function as people name it: its name and the compilation unit defining it
/// ("" when it is defined outside the file the graph came from).
public struct FunctionRef: Hashable, Codable, Sendable, CustomStringConvertible {
    public var name: String
    public var unit: String

    public init(name: String, unit: String) {
        self.name = name
        self.unit = unit
    }

    public var description: String { unit.isEmpty ? name : "\(name) (\(unit))" }

    /// `foo.isra.0`, `foo.constprop.0`, `foo.cold` -> `foo`: GCC's clones keep
    /// the source function's DWARF name; stack traces and symbols show the clone.
    public static func baseName(_ symbol: String) -> String {
        guard let dot = symbol.firstIndex(of: ".") else { return symbol }
        return String(symbol[..<dot])
    }
}

/// A call site that starts a kernel thread with a constant thread function.
public struct KthreadSpawn: Equatable, Codable, Sendable {
    /// The function making the call (e.g. `kpvictim_init`).
    public var spawner: UInt32
    /// The thread function passed as the first argument.
    public var entry: UInt32
    /// The creator called (`kthread_create_on_node`, `kthread_create_on_cpu`).
    public var creator: UInt32
    /// The thread function's entry address in the analysed file.
    public var address: UInt64
}
