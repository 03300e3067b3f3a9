import PatchCore

/// Which objects of the kernel tree a diff touches, or why it cannot be built
/// as a live patch. Only `.c` files of vmlinux or in-tree modules qualify.
struct KernelDiffScope {
    /// Objects of the `.c` files the diff changes.
    let objects: [String]
    /// Headers the diff changes: their includers are found in the prepared tree.
    let headers: [String]

    enum Refusal: Error, CustomStringConvertible {
        case assembly(String)
        case library(String)
        case headerTooWide(String, Int, Int)
        case notSource(String)
        case removedOrAdded(String)

        var description: String {
            switch self {
            case .assembly(let p):
                return "\(p): assembly cannot be live-patched (no fentry, no function boundaries the differ can trust); move the fix into C code"
            case .library(let p):
                return "\(p): lib/ objects are also linked into the decompressor and early boot code, which a live patch cannot reach; fix the callers instead"
            case .headerTooWide(let p, let count, let limit):
                return "\(p) is included by \(count) C files (more than \(limit)): rebuilding and patching them all is not a sensible live patch; put the change in the .c files that need it"
            case .notSource(let p):
                return "\(p): only C sources can be live-patched (not build files, Kconfig or documentation)"
            case .removedOrAdded(let p):
                return "\(p): adding or removing source files is not a live patch; put new code into an existing file"
            }
        }
    }

    init(diff: SourceDiff) throws {
        var objects: [String] = [], headers: [String] = []
        for change in diff.changes {
            let path = change.path
            guard case .modified = change else { throw Refusal.removedOrAdded(path) }
            if path.hasSuffix(".S") || path.hasSuffix(".s") { throw Refusal.assembly(path) }
            if path.hasPrefix("lib/") || path.hasPrefix("arch/x86/boot/") { throw Refusal.library(path) }
            if path.hasSuffix(".h") { headers.append(path); continue }
            guard path.hasSuffix(".c") else { throw Refusal.notSource(path) }
            objects.append(String(path.dropLast(2)) + ".o")
        }
        self.objects = objects
        self.headers = headers
    }
}

extension KernelDiffScope {
    /// The objects to build: the changed `.c` files' and, for each changed header,
    /// those of every `.c` file that includes it (refused past `limit` per header).
    /// Libraries under lib/ reached through a header are left out: they are not
    /// patchable (see `Refusal.library`).
    func candidateObjects(graph: () throws -> IncludeGraph, limit: Int) throws -> [String] {
        var result = Set(objects)
        guard !headers.isEmpty else { return objects }
        let graph = try graph()
        for header in headers {
            let sources = graph.sourceFiles(reaching: header).filter { !$0.hasPrefix("lib/") && !$0.hasPrefix("arch/x86/boot/") }
            guard sources.count <= limit else { throw Refusal.headerTooWide(header, sources.count, limit) }
            for source in sources { result.insert(String(source.dropLast(2)) + ".o") }
        }
        return result.sorted()
    }
}
