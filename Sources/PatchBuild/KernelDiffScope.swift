import PatchModel

/// Which objects of the kernel tree a diff touches, or why it cannot be built
/// as a live patch. Only `.c` files of vmlinux or in-tree modules qualify.
struct KernelDiffScope {
    /// The `.c` files the diff changes.
    let sources: [String]
    /// Headers the diff changes: what uses their changed definitions is found in
    /// the prepared tree (`KernelObjectSelection`).
    let headers: [String]

    enum Refusal: Error, CustomStringConvertible {
        case assembly(String)
        /// Code outside the running kernel's traced functions (`UnreachableCode`).
        case unreachable(String, UnreachableCode)
        /// More objects use what the diff changes than `--max-objects`: `users` says, per
        /// changed header, "N objects use X".
        case tooManyObjects(users: [String], total: Int, limit: Int, predicted: String)
        /// A struct or union whose definition changes: a data change.
        case recordLayout(header: String, records: [String], objects: [String])
        case notSource(String)
        case removedOrAdded(String)

        var description: String {
            switch self {
            case .assembly(let p):
                return "\(p): assembly cannot be live-patched (no fentry, no function boundaries the differ can trust); move the fix into C code"
            case .unreachable(let p, let code):
                return "\(p): \(code.reason)"
            case .tooManyObjects(let users, let total, let limit, let predicted):
                return "\(users.joined(separator: "; ")); compiling \(total) objects, original and patched, would take about \(predicted), more than --max-objects \(limit) allows; raise --max-objects to compile them all and let the differ decide, or put the fix in the .c files that need it"
            case .recordLayout(let header, let records, let objects):
                let users = objects.isEmpty ? "no built object uses it" : "used by \(objects.count) object(s): \(KernelObjectSelection.list(objects, 8))"
                return "\(header): \(records.joined(separator: ", ")) changes layout, a data change live code cannot take (\(users)); keep the layout and attach new fields with shadow variables (klp_shadow_alloc/klp_shadow_get)"
            case .notSource(let p):
                return "\(p): only C sources can be live-patched (not build files, Kconfig or documentation)"
            case .removedOrAdded(let p):
                return "\(p): adding or removing source files is not a live patch; put new code into an existing file"
            }
        }
    }

    init(diff: SourceDiff) throws {
        var sources: [String] = [], headers: [String] = []
        for change in diff.changes {
            let path = change.path
            guard case .modified = change else { throw Refusal.removedOrAdded(path) }
            if path.hasSuffix(".S") || path.hasSuffix(".s") { throw Refusal.assembly(path) }
            if let code = UnreachableCode(path: path) { throw Refusal.unreachable(path, code) }
            if path.hasSuffix(".h") { headers.append(path); continue }
            guard path.hasSuffix(".c") else { throw Refusal.notSource(path) }
            sources.append(path)
        }
        self.sources = sources
        self.headers = headers
    }
}

extension KernelDiffScope {
    /// `dir/x.c` -> `dir/x.o`.
    static func object(of source: String) -> String { String(source.dropLast(2)) + ".o" }

    /// Code a live patch cannot reach, by where it lives: see `UnreachableCode`.
    static func isUnpatchable(_ path: String) -> Bool { UnreachableCode(path: path) != nil }

    /// Several refusals found together.
    struct Refusals: Error, CustomStringConvertible {
        let all: [Refusal]
        init(_ all: [Refusal]) { self.all = all }
        var description: String { all.map(\.description).joined(separator: "\n") }
    }
}
