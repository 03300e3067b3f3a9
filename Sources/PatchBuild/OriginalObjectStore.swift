import FoundationEssentials
import Glibc
import PatchModel

/// The original (unpatched) objects of one prepared kernel tree, kept so that a later
/// build needing the same object does not run Kbuild for it: a repeated or related fix
/// compiles only its patched side, and a second fix touching a wide header reuses the
/// first one's originals.
///
/// - Key: the object's path and what decides its bytes: the prepared tree's stamp (the
///   source it was unpacked from and the SHA-256 of its .config; builds never write a
///   source file into the tree), the compiler and the differ's extra flags. An entry is
///   the object, "not configured" (Kbuild has no rule for it), or "does not compile"
///   with the compiler's error in the object's own source (a file of a module directory
///   the configuration leaves out: the same inputs fail the same way, so a second fix
///   to a wide header does not compile it again). A failure without such an error (a
///   killed compiler) is never stored.
/// - Where: `<cache>/kernels/<release>/originals/`, beside the tree, so preparing the tree
///   again (other inputs, an unfinished preparation) removes it with the tree.
/// - Written only after make built the object without error, under the release's
///   `TreeLock`, by a copy to a temporary name renamed into place: an interrupted build
///   leaves no entry (only a temporary file, removed by the next store), never a partial one.
struct OriginalObjectStore {
    let dir: URL
    private let identity: String

    enum Entry: Equatable {
        case object(URL)
        case unconfigured
        /// The compiler's error line.
        case failed(String)
    }

    /// The store of `tree` (prepared: its stamp exists).
    init(tree: KernelSourceTree) throws {
        let base = tree.dir.deletingLastPathComponent()
        let stamp = base.appendingPathComponent("prepared")
        guard FileManager.default.fileExists(atPath: stamp.path) else {
            throw BuildError.missingInput(what: "the prepared tree's stamp", path: stamp.path)
        }
        let text = try String(contentsOf: stamp, encoding: .utf8)
        dir = base.appendingPathComponent("originals")
        identity = "kpatchctl original objects v2\n\(text)toolchain \(tree.toolchain.description)\nkcflags \(KernelSourceTree.kcflags)\n"
    }

    func key(_ object: String) -> String {
        hexString(SHA256.hash(data: Array("\(identity)object \(object)\n".utf8)).prefix(16))
    }

    func lookup(_ object: String) -> Entry? {
        let fm = FileManager.default
        let file = dir.appendingPathComponent(key(object) + ".o")
        if fm.fileExists(atPath: file.path) { return .object(file) }
        if fm.fileExists(atPath: dir.appendingPathComponent(key(object) + ".unconfigured").path) { return .unconfigured }
        if let data = fm.contents(atPath: dir.appendingPathComponent(key(object) + ".failed").path) {
            return .failed(String(decoding: data, as: UTF8.self))
        }
        return nil
    }

    /// Keeps `built` (the object make just built in the tree) as `object`'s original.
    func store(_ object: String, from built: URL) throws {
        try put(key(object) + ".o") { try FileManager.default.copyItem(at: built, to: $0) }
    }

    /// Records that the configuration does not build `object`.
    func storeUnconfigured(_ object: String) throws {
        try put(key(object) + ".unconfigured") { try Data("\(object)\n".utf8).write(to: $0) }
    }

    /// Records that `object` does not compile here, with the compiler's error line.
    func storeFailed(_ object: String, error: String) throws {
        try put(key(object) + ".failed") { try Data(error.utf8).write(to: $0) }
    }

    /// Temporary files of builds that were killed while storing (the caller holds the lock).
    func removeStaleTemporaries() throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.path) else { return }
        for name in try fm.contentsOfDirectory(atPath: dir.path) where name.hasPrefix(".tmp-") {
            try fm.removeItem(at: dir.appendingPathComponent(name))
        }
    }

    private func put(_ name: String, _ write: (URL) throws -> Void) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let temporary = dir.appendingPathComponent(".tmp-\(UUID().uuidString.prefix(8))-\(name)")
        try write(temporary)
        guard rename(temporary.path, dir.appendingPathComponent(name).path) == 0 else {
            throw BuildError.verification("cannot store \(name) in \(dir.path): \(String(cString: strerror(errno)))")
        }
    }
}
