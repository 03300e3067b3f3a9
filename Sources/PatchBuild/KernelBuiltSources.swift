import FoundationEssentials
import PatchModel

/// Which source files the target kernel was built from, read from the target
/// itself before anything is compiled: the debug vmlinux's DWARF compilation
/// units (cached per build id), and for modules the directories that hold the
/// release's `.ko` files (distribution modules carry no DWARF; a debug build of
/// every module is not required). The module half over-approximates: a file in
/// a directory with modules counts as built, and Kbuild then drops what the
/// configuration does not build.
struct KernelBuiltSources {
    let vmlinuxUnits: CompilationUnits
    /// Directories (relative to the source tree) with at least one module.
    let moduleDirectories: Set<String>
    /// The modules' paths relative to the source tree, compression suffix dropped.
    let moduleFiles: Set<String>

    static func read(image: TargetKernelImage, modulesDir: URL, cache: BuildCache) throws -> KernelBuiltSources {
        let units = try CompilationUnits.cached(path: image.path.path,
                                                cacheDirectory: cache.root.appendingPathComponent("compilation-units"))
        var directories: Set<String> = [], files: Set<String> = []
        let base = modulesDir.appendingPathComponent("kernel")
        let prefix = base.standardizedFileURL.path + "/"
        if KernelFile.isDirectory(base.path) {
            for url in try DirectoryWalk.entries(under: base).map(\.url) where url.lastPathComponent.contains(".ko") {
                let path = url.deletingLastPathComponent().standardizedFileURL.path
                guard path.hasPrefix(prefix), let ko = url.lastPathComponent.firstRange(of: ".ko") else { continue }
                let dir = String(path.dropFirst(prefix.count))
                directories.insert(dir)
                files.insert(dir + "/" + url.lastPathComponent[..<ko.upperBound])
            }
        }
        return KernelBuiltSources(vmlinuxUnits: units, moduleDirectories: directories, moduleFiles: files)
    }

    /// Whether `path` is compiled on its own into the target: a vmlinux unit, a
    /// file of a directory with modules, or a file below a directory holding a
    /// module named after it (fs/xfs/libxfs/x.c and fs/xfs/xfs.ko).
    func isBuilt(_ path: String) -> Bool {
        if vmlinuxUnits.contains(path) { return true }
        var parts = path.split(separator: "/").dropLast()
        if moduleDirectories.contains(parts.joined(separator: "/")) { return true }
        while parts.count >= 2 {
            if let name = parts.last, moduleFiles.contains(parts.joined(separator: "/") + "/\(name).ko") { return true }
            parts = parts.dropLast()
        }
        return false
    }
}
