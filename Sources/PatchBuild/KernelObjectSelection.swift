import FoundationEssentials
import PatchModel

/// Which objects of the kernel tree to rebuild for a diff, decided before
/// anything is compiled:
/// - a changed `.c` file -> the objects that compile it: its own, when it is a
///   unit of the target, and those of the built `.c` files that `#include` it
///   (kernel/sched/deadline.c -> kernel/sched/build_policy.o);
/// - a changed header -> the identifiers whose definitions changed, closed over
///   the macros and inlines of the headers that include it, then the objects whose
///   sources mention any of them (a token scan: an over-approximation the differ
///   narrows down). A changed struct or union layout is refused. There is no bound
///   here on how many objects a header reaches: every user is compiled and the differ
///   decides (`KernelBuildTarget` refuses up front only above `--max-objects`).
/// Files nothing in the target compiles are ignored and listed; when that is all
/// of them, `BuildError.nothingToPatch`.
struct KernelObjectSelection {
    /// Objects to build, sorted.
    var objects: [String] = []
    /// Touched files no object of the target compiles, each with why.
    var ignored: [String] = []
    /// What was decided, for the progress output.
    var notes: [String] = []
    /// Per changed header that reaches objects: "N objects use X" (for the refusal
    /// above `--max-objects`).
    var users: [String] = []

    struct Context {
        let tree: KernelSourceTree
        /// The touched files with the diff applied (only those files).
        let preview: URL
        let graphs: IncludeGraphLoader
        let built: KernelBuiltSources
        let release: String
    }

    static func select(_ scope: KernelDiffScope, _ context: Context) throws -> KernelObjectSelection {
        var selection = KernelObjectSelection()
        var objects: Set<String> = []
        for source in scope.sources {
            let compiling = try context.objectsCompiling(source)
            if compiling.isEmpty {
                selection.ignored.append("\(source) is not built into \(context.release) (no such compilation unit)")
                continue
            }
            if compiling != [KernelDiffScope.object(of: source)] {
                selection.notes.append("\(source) is compiled through \(compiling.joined(separator: ", "))")
            }
            objects.formUnion(compiling)
        }
        var refusals: [KernelDiffScope.Refusal] = []
        for header in scope.headers {
            switch try context.headerObjects(header) {
            case .unchanged:
                selection.ignored.append("\(header): no definition changes (comments or layout of the text only)")
            case .unused(let identifiers):
                selection.ignored.append("\(header): nothing built into \(context.release) uses \(Self.list(identifiers, 8))")
            case .refused(let refusal):
                refusals.append(refusal)
            case .objects(let identifiers, let found, let skipped):
                selection.notes.append("\(header): changed \(Self.list(identifiers, 8)); "
                    + (found.isEmpty ? "new, used only by the files the diff changes" : "used by \(found.joined(separator: ", "))"))
                if !skipped.isEmpty {
                    selection.notes.append("warning: \(header): \(skipped.joined(separator: ", ")) also use them but boot, vDSO, purgatory and real-mode code cannot be patched")
                }
                objects.formUnion(found)
                if !found.isEmpty { selection.users.append("\(header): \(found.count) objects use \(Self.list(identifiers, 8))") }
            }
        }
        guard refusals.isEmpty else { throw KernelDiffScope.Refusals(refusals) }
        selection.objects = objects.sorted()
        guard !objects.isEmpty else { throw BuildError.nothingToPatch(ignored: selection.ignored) }
        return selection
    }

    static func list(_ names: [String], _ limit: Int) -> String {
        names.count <= limit ? names.joined(separator: ", ")
            : names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
    }
}

/// Loads the tree's include graph once, when a decision needs it.
final class IncludeGraphLoader {
    private let load: () throws -> IncludeGraph
    private var graph: IncludeGraph?
    init(_ load: @escaping () throws -> IncludeGraph) { self.load = load }
    func get() throws -> IncludeGraph {
        if let graph { return graph }
        let loaded = try load()
        graph = loaded
        return loaded
    }
}

extension KernelObjectSelection.Context {
    enum HeaderOutcome {
        case unchanged
        case unused([String])
        case refused(KernelDiffScope.Refusal)
        /// Changed identifiers, the objects to build, and objects left out (lib/).
        case objects([String], [String], [String])
    }

    /// The objects that compile `source`: its own when it is a unit of the target;
    /// else those of the built `.c` files that include it. (A unit of its own
    /// that other files also include is not looked for: the kernel has none.)
    func objectsCompiling(_ source: String) throws -> [String] {
        if built.isBuilt(source) { return [KernelDiffScope.object(of: source)] }
        var result: [String] = []
        for includer in try graphs.get().sourceFiles(reaching: source) where built.isBuilt(includer) {
            result.append(KernelDiffScope.object(of: includer))
        }
        return Array(Set(result)).sorted()
    }

    func headerObjects(_ header: String) throws -> HeaderOutcome {
        let old = HeaderDefinitions(text: try String(contentsOf: tree.dir.appendingPathComponent(header), encoding: .utf8))
        let new = HeaderDefinitions(text: try String(contentsOf: preview.appendingPathComponent(header), encoding: .utf8))
        let change = HeaderDefinitions.change(old: old, new: new)
        guard !change.identifiers.isEmpty || !change.records.isEmpty else { return .unchanged }
        // Sources that are units of the target, or included by other sources (unity builds).
        let graph = try graphs.get()
        let sources = graph.sourceFiles(reaching: header).filter { built.isBuilt($0) || graph.isIncluded($0) }
        if !change.records.isEmpty {
            let tags = change.records.map { String($0.split(separator: " ").last ?? "") }
            let users = try objects(of: TreeScan.files(in: tree.dir, among: sources, mentioning: Set(tags)))
            return .refused(.recordLayout(header: header, records: change.records, objects: users))
        }
        let affected = try closure(of: Set(change.identifiers), header: header, old: old, new: new)
        let users = try TreeScan.files(in: tree.dir, among: sources, mentioning: affected)
        let found = try objects(of: users)
        let (patchable, skipped) = (found.filter { !KernelDiffScope.isUnpatchable($0) }, found.filter(KernelDiffScope.isUnpatchable))
        guard !patchable.isEmpty else {
            // New definitions only: just the diff's own changed files can use them.
            let existing = Set(old.definitions.flatMap { [$0.name] + $0.alsoDefines })
            return change.identifiers.allSatisfy({ !existing.contains($0) }) ? .objects(change.identifiers, [], []) : .unused(change.identifiers)
        }
        return .objects(change.identifiers, patchable, skipped)
    }

    /// The objects compiling any of `sources`.
    private func objects(of sources: [String]) throws -> [String] {
        Array(Set(try sources.flatMap(objectsCompiling))).sorted()
    }

    /// `identifiers` plus every macro, inline and typedef that uses one of them,
    /// in the changed header itself and in the headers that include it,
    /// transitively.
    private func closure(of identifiers: Set<String>, header: String, old: HeaderDefinitions,
                         new: HeaderDefinitions) throws -> Set<String> {
        var affected = identifiers
        let includers = try graphs.get().includers(reaching: header).filter { $0.hasSuffix(".h") }
        var parsed: [String: HeaderDefinitions] = [:]
        while true {
            var next = affected
            next.formUnion(old.dependents(of: affected))
            next.formUnion(new.dependents(of: affected))
            for file in try TreeScan.files(in: tree.dir, among: includers, mentioning: affected) {
                if parsed[file] == nil {
                    parsed[file] = HeaderDefinitions(text: try String(contentsOf: tree.dir.appendingPathComponent(file), encoding: .utf8))
                }
                next.formUnion(parsed[file]!.dependents(of: affected))
            }
            if next == affected { return affected }
            affected = next
        }
    }
}

/// A token scan of tree files with grep: which files mention any of a set of
/// identifiers as whole words.
enum TreeScan {
    static func files(in dir: URL, among files: [String], mentioning identifiers: Set<String>) throws -> [String] {
        guard !identifiers.isEmpty, !files.isEmpty else { return [] }
        let patterns = FileManager.default.temporaryDirectory.appendingPathComponent("kpatchctl-scan-\(UUID().uuidString.prefix(8))")
        try identifiers.sorted().joined(separator: "\n").write(to: patterns, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: patterns) }
        var found: [String] = []
        var start = 0
        while start < files.count {
            let chunk = Array(files[start..<min(start + 2000, files.count)])
            start += 2000
            let result = try CommandRunner.run(["grep", "-lwsF", "-f", patterns.path, "--"] + chunk, in: dir)
            // 1: no file matched; 2 with output: some file was unreadable (a dangling include target).
            guard result.status <= 1 || !result.output.isEmpty else {
                throw BuildError.commandFailed(stage: .patch, command: "grep -lwF (identifier scan)", status: result.status,
                                               output: result.output)
            }
            found += result.output.split(separator: "\n").map(String.init)
        }
        return found.sorted()
    }
}
