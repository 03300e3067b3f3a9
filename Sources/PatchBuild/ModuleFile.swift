import FoundationEssentials

/// A kernel module file as a distribution installs it. Debian's 6.12 packages compress every
/// module (`CONFIG_MODULE_COMPRESS_XZ`: `binfmt_misc.ko.xz`); 6.1's are plain `.ko`. libelf
/// reads only the plain form, so a compressed module is decompressed once into the build's
/// own directory before its symbols, build id or DWARF are read.
enum ModuleFile {
    /// The compressions Kbuild knows (`CONFIG_MODULE_COMPRESS_*`) and how to undo each in place.
    static let compressions: [(suffix: String, decompress: [String])] = [
        (".xz", ["xz", "-d", "-f"]), (".zst", ["zstd", "-d", "-f", "-q", "--rm"]), (".gz", ["gzip", "-d", "-f"]),
    ]

    /// The Kbuild module name of a file name (`twofish-x86_64-3way.ko.xz` is module
    /// `twofish_x86_64_3way`; files may use `-` for any `_`), nil when it is not a module.
    static func moduleName(of fileName: String) -> String? {
        var name = Substring(fileName)
        if let c = compressions.first(where: { name.hasSuffix(".ko" + $0.suffix) }) { name = name.dropLast(c.suffix.count) }
        guard name.hasSuffix(".ko") else { return nil }
        return String(name.dropLast(3)).replacing("-", with: "_")
    }

    /// `module` itself when it is plain ELF, else its decompressed copy in `directory`.
    static func readable(_ module: URL, in directory: URL) throws -> URL {
        guard let c = compressions.first(where: { module.lastPathComponent.hasSuffix(".ko" + $0.suffix) }) else { return module }
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let copy = directory.appendingPathComponent(module.lastPathComponent)
        let plain = directory.appendingPathComponent(String(module.lastPathComponent.dropLast(c.suffix.count)))
        if fm.fileExists(atPath: plain.path) { return plain }
        try? fm.removeItem(at: copy)
        try fm.copyItem(at: module, to: copy)
        try CommandRunner.check(.prepare, c.decompress + [copy.path])
        return plain
    }
}
