import FoundationEssentials
import PatchModel

/// Where `build` keeps what it can reuse: the original (unpatched) builds of module
/// trees, keyed by the sources' content, the kernel release and the tool version.
public struct BuildCache: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `$KPATCHCTL_CACHE`, else `$XDG_CACHE_HOME/kpatchctl`, else `~/.cache/kpatchctl`.
    public static var defaultRoot: URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["KPATCHCTL_CACHE"] { return URL(fileURLWithPath: dir) }
        if let xdg = env["XDG_CACHE_HOME"] { return URL(fileURLWithPath: xdg).appendingPathComponent("kpatchctl") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kpatchctl")
    }

    /// The directory of an original module build: `modules/<release>/<key>/tree`.
    func originalModuleTree(sources: URL, release: String, toolVersion: String) throws -> URL {
        let key = try Self.contentKey(of: sources, salt: "\(release)\n\(toolVersion)")
        return root.appendingPathComponent("modules/\(release)/\(key)/tree")
    }

    /// SHA-256 over the relative paths and bytes of the source files (build
    /// products excluded), so any edit gives a new key.
    static func contentKey(of dir: URL, salt: String) throws -> String {
        let hasher = SHA256()
        hasher.update(data: Array(salt.utf8))
        var files: [String] = []
        for entry in try DirectoryWalk.entries(under: dir, descend: { !$0.url.lastPathComponent.hasPrefix(".") })
            where entry.isRegularFile && !ModuleTree.isBuildProduct(entry.url.lastPathComponent) {
            files.append(entry.relativePath)
        }
        for rel in files.sorted() {
            hasher.update(data: Array("\u{0}\(rel)\u{0}".utf8))
            hasher.update(data: try Data(contentsOf: dir.appendingPathComponent(rel)))
        }
        return hexString(hasher.finalize().prefix(16))
    }
}
