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

    /// Builds orig/ and patched/ with the pinned headers' Kbuild, once per case
    /// content for all test processes (CorpusBuilds).
    public func compile(bed: TestBed) throws -> CompiledCase {
        try CorpusBuilds.compiled(self, bed: bed)
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
/// `corpus-builds`), keyed by the case's sources, the kernel release and the headers' path.
enum CorpusBuilds {
    static func compiled(_ corpusCase: CorpusCase, bed: TestBed) throws -> CompiledCase {
        let key = ContentKey("kernel \(bed.kernelRelease) \(bed.headers.path)")
        try key.add(tree: corpusCase.originalSources)
        try key.add(tree: corpusCase.patchedSources)
        let done = try ContentStore.shared.entry("corpus-builds", name: corpusCase.name, key: key, bed: bed) {
            try build(corpusCase, in: $0, bed: bed)
        }
        return try products(corpusCase, in: done)
    }

    /// Both trees are built at the same path, one after the other, as a user builds
    /// a patched source tree in place: __FILE__ strings (WARN_ON's bug entries) and
    /// DWARF paths are then the same in both objects. The patched tree only has to
    /// yield objects, and may call vmlinux functions no module can link against
    /// (that is what klp relocations are for), so its modpost errors are warnings.
    private static func build(_ corpusCase: CorpusCase, in caseDir: URL, bed: TestBed) throws {
        let fm = FileManager.default
        let work = caseDir.appendingPathComponent("src")
        for (tree, sources) in [("orig", corpusCase.originalSources), ("patched", corpusCase.patchedSources)] {
            try fm.copyItem(at: sources, to: work)
            var argv = ["make", "-s", "-C", bed.headers.path, "M=\(work.path)"]
            if tree == "patched" { argv.append("KBUILD_MODPOST_WARN=1") }
            argv.append("modules")
            // With the kernel's own compiler: in the build root when the host lacks it (6.12: gcc-14).
            let result = try runCommand(try bed.inToolchain(argv))
            guard result.status == 0 else {
                throw CorpusError.buildFailed(corpusCase.name, tree: tree, result.output)
            }
            try fm.moveItem(at: work, to: caseDir.appendingPathComponent(tree))
        }
    }

    private static func products(_ corpusCase: CorpusCase, in caseDir: URL) throws -> CompiledCase {
        let original = caseDir.appendingPathComponent("orig"), patched = caseDir.appendingPathComponent("patched")
        let compiled = CompiledCase(
            originalObject: original.appendingPathComponent(corpusCase.expectation.object),
            patchedObject: patched.appendingPathComponent(corpusCase.expectation.object),
            originalModule: original.appendingPathComponent("\(corpusCase.moduleName).ko"),
            moduleName: corpusCase.moduleName,
            originalDir: original, patchedDir: patched)
        for product in [compiled.originalObject, compiled.patchedObject, compiled.originalModule]
        where !FileManager.default.fileExists(atPath: product.path) {
            throw CorpusError.missingProduct(corpusCase.name, product)
        }
        return compiled
    }
}
