import Foundation
import PatchModel

/// What a correct differ must produce for one corpus case: Tests/Corpus/<case>/expect.json
/// (format in docs/CORPUS.md). Lists are exact sets except `exportedRequired`.
public struct CorpusExpectation: Codable, Equatable {
    public enum Outcome: String, Codable {
        case changed
        case noChange = "no-change"
        case refused
    }

    /// A function of the target object to replace, by its symbol name there.
    public struct Function: Codable, Hashable {
        public let name: String
        public let sympos: Int
    }

    /// A `.klp.sym.<object>.<name>,<sympos>` symbol the patch must reference.
    public struct KlpSymbol: Codable, Hashable {
        public let object: String
        public let name: String
        public let sympos: Int
    }

    public struct Refusal: Codable, Hashable {
        /// One of `refusalKinds`.
        public let kind: String
        public let symbol: String
    }

    /// The refusal kinds of the differ contract, as they appear in JSON.
    public static let refusalKinds: Set<String> = [
        "changed-data", "init-exit-code", "notrace", "section-group",
        "moved-section", "size-changed", "export-table", "link-time-data", "module-static-key",
    ]
    /// Every key expect.json must have, no more.
    public static let keys: Set<String> = [
        "description", "object", "outcome", "replaced", "new", "klp", "exportedRequired", "refusals",
    ]

    public let description: String
    /// The translation unit to diff: orig/<object> against patched/<object>.
    public let object: String
    public let outcome: Outcome
    public let replaced: [Function]
    /// Included symbols without a counterpart in the original (compiler-private
    /// statics such as `__func__.N` and string literals are not listed).
    public let new: [String]
    public let klp: [KlpSymbol]
    /// Names that must stay ordinary undefined symbols (a subset of them).
    public let exportedRequired: [String]
    public let refusals: [Refusal]
}

/// One case of the differ corpus: Tests/Corpus/<name>/{orig,patched,expect.json}.
public struct CorpusCase {
    public let name: String
    public let dir: URL
    public let expectation: CorpusExpectation

    /// The livepatch object name of the case: its module name.
    public var moduleName: String { "kpc_\(name)" }
    public var originalSources: URL { dir.appendingPathComponent("orig") }
    public var patchedSources: URL { dir.appendingPathComponent("patched") }

    /// The objects of the case's module (orig/Kbuild's `kpc_<case>-y`, else the one object).
    public func objects() throws -> [String] {
        let kbuild = try String(contentsOf: originalSources.appendingPathComponent("Kbuild"), encoding: .utf8)
        let prefix = "\(moduleName)-y := "
        guard let line = kbuild.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return [expectation.object] }
        return line.dropFirst(prefix.count).split(separator: " ").map(String.init)
    }

    public static func corpusDirectory(bed: TestBed) -> URL {
        bed.root.appendingPathComponent("Tests/Corpus")
    }

    /// The names of all case directories, sorted.
    public static func names(bed: TestBed) throws -> [String] {
        let root = corpusDirectory(bed: bed)
        return try FileManager.default.contentsOfDirectory(atPath: root.path)
            .filter { name in
                var isDir: ObjCBool = false
                return FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path,
                                                      isDirectory: &isDir) && isDir.boolValue
            }
            .sorted()
    }

    /// Loads one case, throwing if its expect.json is missing or malformed.
    public static func load(_ name: String, bed: TestBed) throws -> CorpusCase {
        let dir = corpusDirectory(bed: bed).appendingPathComponent(name)
        let file = dir.appendingPathComponent("expect.json")
        let data: Data
        do { data = try Data(contentsOf: file) } catch { throw CorpusError.unreadableExpectation(name, "\(error)") }
        do {
            return CorpusCase(name: name, dir: dir,
                              expectation: try JSONDecoder().decode(CorpusExpectation.self, from: data))
        } catch {
            throw CorpusError.badExpectation(name, "\(error)")
        }
    }

    /// Every case whose expect.json loads, sorted by name. CorpusLayoutTests fails
    /// on any case that does not load, so none is dropped silently.
    public static func all(bed: TestBed) -> [CorpusCase] {
        ((try? names(bed: bed)) ?? []).compactMap { try? load($0, bed: bed) }
    }

    /// Builds orig/ and patched/ with the pinned headers' Kbuild, once per content for all
    /// test processes (CorpusBuilds), together with the other cases of `batch` (names; by
    /// default the whole corpus, which most test classes use).
    public func compile(bed: TestBed, batch: [String]? = nil) throws -> CompiledCase {
        try CorpusBuilds.compiled(self, among: batch, bed: bed)
    }
}

/// The build products of a case.
public struct CompiledCase {
    /// orig/<object> and patched/<object>: the translation unit to diff.
    public let originalObject: URL
    public let patchedObject: URL
    /// The original module (.ko): the target symbol table for sympos.
    public let originalModule: URL
    public let moduleName: String
    /// The build directories holding all products of each tree.
    public let originalDir: URL
    public let patchedDir: URL
    /// The Module.symvers of the patched build (shared with the other cases built with it).
    public let patchedSymvers: URL
}

public enum CorpusError: Error, CustomStringConvertible {
    case unreadableExpectation(String, String)
    case badExpectation(String, String)
    case missingProduct(String, URL)
    case buildFailed(String, tree: String, String)

    public var description: String {
        switch self {
        case .unreadableExpectation(let name, let why): return "corpus case \(name): cannot read expect.json: \(why)"
        case .badExpectation(let name, let why): return "corpus case \(name): malformed expect.json: \(why)"
        case .missingProduct(let name, let url): return "corpus case \(name): build did not produce \(url.path)"
        case .buildFailed(let name, let tree, let output): return "corpus case \(name): \(tree)/ does not build:\n\(output)"
        }
    }
}

/// Builds of corpus cases, shared by every test process (`ContentStore` area
/// `corpus-builds`), keyed by the cases' sources, the kernel release and the headers' path.
/// A batch of cases is built with one Kbuild run per tree (each case a subdirectory of one
/// external-module tree, `obj-m += <case>/`, built in parallel): one run per case and tree
/// cost a make start and a modpost each, 2.6 s a case in CI against about 0.3 s so.
/// Cases that export the same symbol go in separate lanes (modpost refuses a symbol
/// exported twice in one run).
enum CorpusBuilds {
    /// The batch entries this process found or made, by kernel and case names: a class
    /// compiles its cases one by one, and the key hashes every source of the batch.
    nonisolated(unsafe) private static var entries: [String: URL] = [:]
    private static let lock = NSLock()

    /// `batch`: case names, nil for the whole corpus.
    static func compiled(_ corpusCase: CorpusCase, among batch: [String]?, bed: TestBed) throws -> CompiledCase {
        try products(corpusCase, in: try entry(batch: batch, with: corpusCase, bed: bed))
    }

    private static func entry(batch names: [String]?, with corpusCase: CorpusCase, bed: TestBed) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        let memo = "\(bed.kernelRelease) \(bed.headers.path) \(names.map { Set($0 + [corpusCase.name]).sorted().joined(separator: " ") } ?? "all")"
        if let known = entries[memo] { return known }
        var cases = try names.map { try $0.map { try CorpusCase.load($0, bed: bed) } } ?? CorpusCase.all(bed: bed)
        if !cases.contains(where: { $0.name == corpusCase.name }) { cases.append(corpusCase) }
        cases.sort { $0.name < $1.name }
        let key = ContentKey("kernel \(bed.kernelRelease) \(bed.headers.path)")
        for member in cases {
            key.add("case \(member.name)")
            try key.add(tree: member.originalSources)
            try key.add(tree: member.patchedSources)
        }
        let done = try ContentStore.shared.entry("corpus-builds", name: "batch-\(cases.count)", key: key, bed: bed) {
            try build(cases, in: $0, bed: bed)
        }
        entries[memo] = done
        return done
    }

    /// Both trees of a case are built at the same path, one after the other, as a user
    /// builds a patched source tree in place: __FILE__ strings (WARN_ON's bug entries) and
    /// DWARF paths are then the same in both objects. The patched tree only has to yield
    /// objects, and may call vmlinux functions no module can link against (that is what
    /// klp relocations are for), so its modpost errors are warnings.
    private static func build(_ cases: [CorpusCase], in entry: URL, bed: TestBed) throws {
        let fm = FileManager.default
        for (index, lane) in try lanes(cases).enumerated() {
            let laneDir = entry.appendingPathComponent("lane\(index)")
            let work = laneDir.appendingPathComponent("src")
            for (tree, patched) in [("orig", false), ("patched", true)] {
                try fm.createDirectory(at: work, withIntermediateDirectories: true)
                for member in lane {
                    try fm.copyItem(at: patched ? member.patchedSources : member.originalSources,
                                    to: work.appendingPathComponent(member.name))
                }
                try lane.map { "obj-m += \($0.name)/\n" }.joined().write(to: work.appendingPathComponent("Kbuild"), atomically: true, encoding: .utf8)
                var argv = ["make", "-s", "-j\(ProcessInfo.processInfo.activeProcessorCount)", "-C", bed.headers.path, "M=\(work.path)"]
                if patched { argv.append("KBUILD_MODPOST_WARN=1") }
                argv.append("modules")
                // With the kernel's own compiler: in the build root when the host lacks it (6.12: gcc-14).
                let result = try runCommand(try bed.inToolchain(argv))
                guard result.status == 0 else {
                    throw CorpusError.buildFailed(lane.map(\.name).joined(separator: ", "), tree: tree, result.output)
                }
                try fm.moveItem(at: work, to: laneDir.appendingPathComponent(tree))
            }
        }
    }

    /// The cases in lanes whose members export no symbol twice (first fit, in name order).
    private static func lanes(_ cases: [CorpusCase]) throws -> [[CorpusCase]] {
        let export = try NSRegularExpression(pattern: #"EXPORT_SYMBOL(?:_GPL)?\(\s*(\w+)\s*\)"#)
        var lanes: [(cases: [CorpusCase], exports: Set<String>)] = []
        for member in cases {
            var names = Set<String>()
            for tree in [member.originalSources, member.patchedSources] {
                for file in try FileManager.default.contentsOfDirectory(atPath: tree.path) where file.hasSuffix(".c") {
                    let text = try String(contentsOf: tree.appendingPathComponent(file), encoding: .utf8)
                    for match in export.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                        names.insert((text as NSString).substring(with: match.range(at: 1)))
                    }
                }
            }
            if let fit = lanes.firstIndex(where: { $0.exports.isDisjoint(with: names) }) {
                lanes[fit].cases.append(member)
                lanes[fit].exports.formUnion(names)
            } else {
                lanes.append(([member], names))
            }
        }
        return lanes.map(\.cases)
    }

    private static func products(_ corpusCase: CorpusCase, in entry: URL) throws -> CompiledCase {
        let fm = FileManager.default
        let lanes = try fm.contentsOfDirectory(atPath: entry.path).filter { $0.hasPrefix("lane") }.sorted()
        guard let lane = lanes.map({ entry.appendingPathComponent($0) })
            .first(where: { fm.fileExists(atPath: $0.appendingPathComponent("orig/\(corpusCase.name)").path) }) else {
            throw CorpusError.missingProduct(corpusCase.name, entry.appendingPathComponent("lane*/orig/\(corpusCase.name)"))
        }
        let original = lane.appendingPathComponent("orig/\(corpusCase.name)"), patched = lane.appendingPathComponent("patched/\(corpusCase.name)")
        let compiled = CompiledCase(
            originalObject: original.appendingPathComponent(corpusCase.expectation.object),
            patchedObject: patched.appendingPathComponent(corpusCase.expectation.object),
            originalModule: original.appendingPathComponent("\(corpusCase.moduleName).ko"),
            moduleName: corpusCase.moduleName,
            originalDir: original, patchedDir: patched,
            patchedSymvers: lane.appendingPathComponent("patched/Module.symvers"))
        for product in [compiled.originalObject, compiled.patchedObject, compiled.originalModule]
        where !fm.fileExists(atPath: product.path) {
            throw CorpusError.missingProduct(corpusCase.name, product)
        }
        return compiled
    }
}
