import Foundation

/// What identifies the running kernel and its loaded modules, read from a root
/// directory ("/" in production): uname, /sys/kernel/notes and
/// /sys/module/<name>/notes/.note.gnu.build-id.
public struct RunningKernelIdentity: Sendable {
    public let release: String
    public let machine: String
    public let vmlinuxBuildID: String?
    let root: String

    public init(release: String, machine: String, vmlinuxBuildID: String?, root: String) {
        self.release = release
        self.machine = machine
        self.vmlinuxBuildID = vmlinuxBuildID
        self.root = root
    }

    /// The running system's identity (uname for release and machine).
    public static func current(root: String = "/") -> RunningKernelIdentity {
        var u = utsname()
        uname(&u)
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let notes = FileManager.default.contents(atPath: root + "/sys/kernel/notes").map { [UInt8]($0) }
        return RunningKernelIdentity(release: field(&u.release), machine: field(&u.machine),
                                     vmlinuxBuildID: notes.flatMap(GNUBuildIDNote.parse), root: root)
    }

    /// Whether module `name` is loaded (its /sys/module directory has notes: built-in
    /// "modules" have a /sys/module entry too, but no notes).
    public func isModuleLoaded(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(root)/sys/module/\(name)/initstate")
    }

    /// A loaded module's GNU build id.
    public func moduleBuildID(_ name: String) -> String? {
        let path = "\(root)/sys/module/\(name)/notes/.note.gnu.build-id"
        return FileManager.default.contents(atPath: path).flatMap { GNUBuildIDNote.parse([UInt8]($0)) }
    }
}
