import FoundationEssentials
import Glibc
import PatchModel

/// What identifies the running kernel and its loaded modules, read from a root
/// directory ("/" in production): uname, /sys/kernel/notes and
/// /sys/module/<name>/notes/.note.gnu.build-id.
public struct RunningKernelIdentity: Sendable {
    public let release: String
    public let machine: String
    public let vmlinuxBuildID: String?
    /// The whole vermagic string of the running kernel, read from one of its
    /// modules (the kernel does not publish it); nil when none is installed.
    public let vermagic: String?
    let root: String

    public init(release: String, machine: String, vmlinuxBuildID: String?, vermagic: String? = nil, root: String) {
        self.release = release
        self.machine = machine
        self.vmlinuxBuildID = vmlinuxBuildID
        self.vermagic = vermagic
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
        let release = field(&u.release)
        return RunningKernelIdentity(release: release, machine: field(&u.machine),
                                     vmlinuxBuildID: notes.flatMap(GNUBuildIDNote.parse),
                                     vermagic: moduleVermagic(in: root + "/lib/modules/" + release), root: root)
    }

    /// The vermagic of the first module found under `directory`, plain or compressed as
    /// Debian's 6.12 installs them (`.ko.xz`) (breadth first, a bounded walk: any module of a
    /// release carries the same string).
    static func moduleVermagic(in directory: String) -> String? {
        var queue = [directory]
        var visited = 0
        while !queue.isEmpty && visited < 4096 {
            let dir = queue.removeFirst()
            guard let names = try? KernelFile.list(dir) else { continue }
            for name in names.sorted() {
                visited += 1
                let path = dir + "/" + name
                if ModuleFile.moduleName(of: name) != nil, let vermagic = (try? KernelModuleFile(path: path))?.vermagic { return vermagic }
                if KernelFile.isDirectory(path) && name != "build" && name != "source" { queue.append(path) }
            }
        }
        return nil
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
