import FoundationEssentials
import Glibc
import PatchModel

/// The kernel a patch is built for: its release and its Kbuild tree (headers).
public struct TargetKernel: Sendable {
    public let release: String
    /// The Kbuild tree out-of-tree modules build against.
    public let headers: URL

    public var moduleSymvers: URL { headers.appendingPathComponent("Module.symvers") }

    /// `headers` if given, else Debian's /usr/src/linux-headers-<release>, else
    /// /lib/modules/<release>/build.
    public static func locate(release: String, headers: URL? = nil) throws -> TargetKernel {
        let candidates = headers.map { [$0] } ?? [
            URL(fileURLWithPath: "/usr/src/linux-headers-\(release)"),
            URL(fileURLWithPath: "/lib/modules/\(release)/build"),
        ]
        for dir in candidates where FileManager.default.fileExists(atPath: dir.appendingPathComponent("Makefile").path) {
            return TargetKernel(release: release, headers: dir)
        }
        throw BuildError.headersMissing(release: release, tried: candidates.map(\.path))
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
        try CommandRunner.check(.prepare, ["make", "-s", "-C", headers.path, "M=\(dir.path)", "modules"])
        guard let vermagic = try KernelModuleFile(path: dir.appendingPathComponent("kpatchctl_probe.ko").path).vermagic else {
            throw BuildError.verification("a module built against \(headers.path) has no vermagic")
        }
        try vermagic.write(to: stamp, atomically: true, encoding: .utf8)
        return vermagic
    }
}
