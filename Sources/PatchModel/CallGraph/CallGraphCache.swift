import FoundationEssentials

/// The on-disk form of a `CallGraph`: flat little-endian arrays behind a magic
/// and a version, one file per build id (`callgraph-<build id>.kpcg`) in a
/// directory the caller chooses. Loading is a few array copies.
public enum CallGraphCache {
    static let magic: [UInt8] = Array("KPCG".utf8)
    /// Bump when the layout changes; an old file is then rebuilt, never misread.
    static let version: UInt16 = 8

    public static func file(in directory: URL, buildID: String) -> URL {
        directory.appendingPathComponent("callgraph-\(buildID).kpcg")
    }

    /// The cached graph of `path` if present and valid, else a fresh build that
    /// is then stored. A file without a build id is always built (nothing to key on).
    public static func graph(for path: String, cacheDirectory: URL, threads: Int = 1) throws -> CallGraph {
        guard let buildID = try ELFBuildID.read(path: path) else {
            return try CallGraphBuilder.build(path: path, threads: threads)
        }
        let cached = file(in: cacheDirectory, buildID: buildID)
        if FileManager.default.fileExists(atPath: cached.path), var graph = try? load(from: cached),
           graph.buildID == buildID {
            graph.flows = try CallSiteFlows(path: path)
            return graph
        }
        let graph = try CallGraphBuilder.build(path: path, threads: threads)
        try store(graph, in: cacheDirectory)
        return graph
    }

    /// `flowsFrom`: the file the graph was read from, for the call-site flows (without it every call keeps everything).
    public static func load(from url: URL, flowsFrom file: String? = nil) throws -> CallGraph {
        var graph = try read(url)
        graph.flows = try file.map { try CallSiteFlows(path: $0) }
        return graph
    }

    private static func read(_ url: URL) throws -> CallGraph {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw CallGraphError.badCache(path: url.path, reason: "\(error)")
        }
        do { return try CallGraph(serialized: bytes) } catch {
            throw CallGraphError.badCache(path: url.path, reason: "\(error)")
        }
    }

    /// Writes atomically, so a reader never sees half a file.
    @discardableResult
    public static func store(_ graph: CallGraph, in directory: URL) throws -> URL {
        guard let buildID = graph.buildID else {
            throw CallGraphError.badCache(path: directory.path, reason: "the graph has no build id to key it by")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = file(in: directory, buildID: buildID)
        try Data(graph.serialized()).write(to: url, options: .atomic)
        return url
    }
}

struct MalformedGraph: Error, CustomStringConvertible {
    let description: String
}

extension CallGraph {
    public func serialized() -> [UInt8] {
        var out = BinaryWriter()
        out.raw(CallGraphCache.magic)
        out.u16(CallGraphCache.version)
        out.string(buildID ?? "")
        out.array(names.bytes); out.array(names.starts)
        out.array(units.bytes); out.array(units.starts)
        out.array(nodeName); out.array(nodeUnit); out.array(nodeInterface); out.array(nodeSignature)
        out.array(edgeCaller); out.array(edgeCallee); out.array(edgeKind)
        out.array(edgeSiteStart); out.array(siteDie); out.array(siteSubprogram); out.array(siteFrame)
        out.array(rangeNode); out.array(rangeLow); out.array(rangeHigh)
        out.array(kthreadSpawns.flatMap { [$0.spawner, $0.entry, $0.creator] })
        out.array(kthreadSpawns.map(\.address))
        return out.bytes
    }

    /// Decodes and validates every index, so a corrupt file throws instead of trapping later.
    public init(serialized bytes: [UInt8]) throws {
        var input = BinaryReader(bytes)
        guard Array(try input.raw(4, "magic")) == CallGraphCache.magic else { throw MalformedGraph(description: "not a call-graph cache (bad magic)") }
        let version = try input.u16("version")
        guard version == CallGraphCache.version else {
            throw MalformedGraph(description: "format version \(version), this kpatchctl reads \(CallGraphCache.version)")
        }
        self.init()
        let id = try input.string("build id")
        buildID = id.isEmpty ? nil : id
        names = try Self.table(&input, "names")
        units = try Self.table(&input, "units")
        nodeName = try input.array("node names"); nodeUnit = try input.array("node units")
        nodeInterface = try input.array("node interfaces")
        nodeSignature = try input.array("node signatures")
        edgeCaller = try input.array("edge callers"); edgeCallee = try input.array("edge callees")
        edgeKind = try input.array("edge kinds")
        edgeSiteStart = try input.array("edge call sites"); siteDie = try input.array("call-site DIEs")
        siteSubprogram = try input.array("call-site subprograms")
        siteFrame = try input.array("call-site frames")
        rangeNode = try input.array("range nodes"); rangeLow = try input.array("range starts"); rangeHigh = try input.array("range ends")
        let spawnWords: [UInt32] = try input.array("kthread spawns")
        let spawnAddresses: [UInt64] = try input.array("kthread spawn addresses")
        guard input.atEnd else { throw MalformedGraph(description: "trailing bytes") }
        guard nodeUnit.count == nodeName.count, nodeInterface.count == nodeName.count, nodeSignature.count == nodeName.count,
              edgeSiteStart.count == edgeCaller.count + 1, siteSubprogram.count == siteDie.count, siteFrame.count == siteDie.count,
              edgeSiteStart.first == 0, Int(edgeSiteStart.last!) == siteDie.count,
              zip(edgeSiteStart, edgeSiteStart.dropFirst()).allSatisfy({ $0 <= $1 }), rangeLow.count == rangeNode.count, rangeHigh.count == rangeNode.count,
              edgeCallee.count == edgeCaller.count, edgeKind.count == edgeCaller.count,
              spawnWords.count % 3 == 0, spawnAddresses.count == spawnWords.count / 3 else { throw MalformedGraph(description: "array lengths disagree") }
        let nodes = UInt32(nodeName.count)
        guard nodeName.allSatisfy({ Int($0) < names.count }), nodeUnit.allSatisfy({ Int($0) < units.count }),
              nodeInterface.allSatisfy({ FunctionInterface(rawValue: $0) != nil }),
              edgeCaller.allSatisfy({ $0 < nodes }), edgeCallee.allSatisfy({ $0 < nodes }), rangeNode.allSatisfy({ $0 < nodes }), siteFrame.allSatisfy({ $0 < nodes }),
              edgeKind.allSatisfy({ CallKind(rawValue: $0) != nil }), spawnWords.allSatisfy({ $0 < nodes })
        else { throw MalformedGraph(description: "an index is out of range") }
        kthreadSpawns = stride(from: 0, to: spawnWords.count, by: 3).map {
            KthreadSpawn(spawner: spawnWords[$0], entry: spawnWords[$0 + 1], creator: spawnWords[$0 + 2], address: spawnAddresses[$0 / 3])
        }
    }

    private static func table(_ input: inout BinaryReader, _ what: String) throws -> StringTable {
        let bytes: [UInt8] = try input.array("\(what) bytes")
        let starts: [UInt32] = try input.array("\(what) offsets")
        guard starts.first == 0, zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }),
              Int(starts.last!) == bytes.count else { throw MalformedGraph(description: "\(what) offsets are inconsistent") }
        return StringTable(bytes: bytes, starts: starts)
    }
}
