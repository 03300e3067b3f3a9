import PatchCore

/// Which objects of the kernel tree a diff touches, or why it cannot be built
/// as a live patch. Only `.c` files of vmlinux or in-tree modules qualify.
struct KernelDiffScope {
    let objects: [String]

    enum Refusal: Error, CustomStringConvertible {
        case assembly(String)
        case library(String)
        case header(String)
        case notSource(String)
        case removedOrAdded(String)

        var description: String {
            switch self {
            case .assembly(let p):
                return "\(p): assembly cannot be live-patched (no fentry, no function boundaries the differ can trust); move the fix into C code"
            case .library(let p):
                return "\(p): lib/ objects are also linked into the decompressor and early boot code, which a live patch cannot reach; fix the callers instead"
            case .header(let p):
                return "\(p): a header change affects every object that includes it, and without a full kernel build kpatchctl cannot list them all; put the change in the .c files that need it"
            case .notSource(let p):
                return "\(p): only C sources can be live-patched (not build files, Kconfig or documentation)"
            case .removedOrAdded(let p):
                return "\(p): adding or removing source files is not a live patch; put new code into an existing file"
            }
        }
    }

    init(diff: SourceDiff) throws {
        var objects: [String] = []
        for change in diff.changes {
            let path = change.path
            guard case .modified = change else { throw Refusal.removedOrAdded(path) }
            if path.hasSuffix(".S") || path.hasSuffix(".s") { throw Refusal.assembly(path) }
            if path.hasSuffix(".h") { throw Refusal.header(path) }
            guard path.hasSuffix(".c") else { throw Refusal.notSource(path) }
            if path.hasPrefix("lib/") || path.hasPrefix("arch/x86/boot/") { throw Refusal.library(path) }
            objects.append(String(path.dropLast(2)) + ".o")
        }
        self.objects = objects
    }
}
