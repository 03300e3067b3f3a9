import Foundation

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
