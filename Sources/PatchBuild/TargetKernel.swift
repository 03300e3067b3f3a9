import FoundationEssentials
import Glibc
import PatchModel

/// The kernel a patch is built for: its release, its Kbuild tree (headers) and the
/// toolchain every Kbuild call for it runs with.
public struct TargetKernel: Sendable {
    public let release: String
    /// The Kbuild tree out-of-tree modules build against.
    public let headers: URL
    /// Host or build root (`Toolchain.select`), chosen before anything is compiled.
    public var toolchain: Toolchain

    public var moduleSymvers: URL { headers.appendingPathComponent("Module.symvers") }

    /// `headers` if given, else Debian's /usr/src/linux-headers-<release>, else
    /// /lib/modules/<release>/build, else (a Debian release) the headers packages fetched
    /// into `store`. The toolchain is selected from the headers' .config.
    public static func locate(release: String, headers: URL? = nil, store: KernelPackageStore, binds: [URL],
                              note: (String) -> Void) throws -> TargetKernel {
        let candidates = headers.map { [$0] } ?? [
            URL(fileURLWithPath: "/usr/src/linux-headers-\(release)"),
            URL(fileURLWithPath: "/lib/modules/\(release)/build"),
        ]
        var found = candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("Makefile").path) }
        if found == nil, headers == nil, let debian = DebianKernelRelease(release) {
            try store.fetch(debian, parts: [.headers], note: note)
            found = store.headers(release)
        }
        guard let dir = found else { throw BuildError.headersMissing(release: release, tried: candidates.map(\.path)) }
        let toolchain = try Toolchain.select(config: dir.appendingPathComponent(".config"), release: release, store: store,
                                             binds: binds + [Self.unpackedRoot(of: dir)], note: note)
        return TargetKernel(release: release, headers: dir, toolchain: toolchain)
    }

    /// Debian's headers link into linux-kbuild (`scripts -> ../../lib/linux-kbuild-X/scripts`) and
    /// include their -common beside them: a build root sees all of `<root>/usr/{src,lib}` when
    /// the headers are `<root>/usr/src/linux-headers-<release>` (unpacked packages), the
    /// headers' own directory otherwise.
    static func unpackedRoot(of headers: URL) -> URL {
        let src = headers.deletingLastPathComponent()
        guard src.path.hasSuffix("/usr/src"), src.path != "/usr/src" else { return headers }
        return src.deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The running kernel's release (uname -r).
    public static var runningRelease: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension TargetKernel {
    /// The vermagic modules built against these headers carry, found once per
    /// release by building an empty module (exact, rather than re-deriving
    /// include/linux/vermagic.h) and cached.
    func vermagic(cache: BuildCache) throws -> String {
        let fm = FileManager.default
        let dir = cache.root.appendingPathComponent("kernels/\(release)/vermagic-probe")
        let stamp = dir.appendingPathComponent("vermagic")
        if let text = try? String(contentsOf: stamp, encoding: .utf8) { return text }
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try "obj-m := kpatchctl_probe.o\n".write(to: dir.appendingPathComponent("Kbuild"), atomically: true, encoding: .utf8)
        try "#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\n"
            .write(to: dir.appendingPathComponent("kpatchctl_probe.c"), atomically: true, encoding: .utf8)
        try CommandRunner.check(.prepare, toolchain.command(["make", "-s", "-C", headers.path, "M=\(dir.path)", "modules"]))
        guard let vermagic = try KernelModuleFile(path: dir.appendingPathComponent("kpatchctl_probe.ko").path).vermagic else {
            throw BuildError.verification("a module built against \(headers.path) has no vermagic")
        }
        try vermagic.write(to: stamp, atomically: true, encoding: .utf8)
        return vermagic
    }
}
