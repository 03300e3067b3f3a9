import FoundationEssentials
import Glibc
import PatchModel

public enum ModuleInfoError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, errno: Int32)
    case notELF(path: String, reason: String)
    case notModule(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let e): return "cannot read \(path): \(String(cString: strerror(e)))"
        case .notELF(let path, let reason): return "\(path) is not an ELF file (\(reason)): pass a .ko built by kpatchctl build"
        case .notModule(let path, let reason): return "\(path) is not a kernel module: \(reason)"
        }
    }
}

/// What the controller reads from a module before loading it: its `.modinfo`
/// (name, vermagic, livepatch flag) through `KernelModuleFile`, with failures
/// classified for the user.
public typealias ModuleInfo = KernelModuleFile

extension KernelModuleFile {
    /// Opens `path` as a module to load; a file that is not a module is refused.
    public static func forLoading(path: String) throws -> KernelModuleFile {
        let module: KernelModuleFile
        do {
            module = try KernelModuleFile(path: path)
        } catch let error as ELFError {
            switch error {
            case .cannotOpen(_, let e): throw ModuleInfoError.unreadable(path: path, errno: e)
            case .unsupported(_, let what): throw ModuleInfoError.notModule(path: path, reason: what)
            default: throw ModuleInfoError.notELF(path: path, reason: "\(error)")
            }
        }
        guard !module.modinfo.isEmpty else { throw ModuleInfoError.notModule(path: path, reason: "no .modinfo section") }
        return module
    }

    /// A `.modinfo` value by key.
    public func value(_ key: String) -> String? { modinfo(key) }
}
