import CKernel
import Glibc
import PatchModel

/// A refusal of finit_module(2) or delete_module(2), with what to do about it.
public struct ModuleLoaderError: Error, CustomStringConvertible, Equatable {
    public enum Operation: String, Sendable { case open, load, unload }
    public let operation: Operation
    /// The module's name (unload) or file (open, load).
    public let subject: String
    public let errno: Int32

    public var description: String {
        let what: String
        switch operation {
        case .open: what = "cannot open \(subject)"
        case .load: what = "the kernel refused to load \(subject)"
        case .unload: what = "the kernel refused to unload module \(subject)"
        }
        return "\(what): \(String(cString: strerror(errno))) (\(ModuleLoaderError.errnoName(errno))). \(advice)"
    }

    /// What the errno means for this operation, and what to do instead.
    public var advice: String {
        switch (operation, errno) {
        case (.open, ENOENT): return "Check the path."
        case (.open, _): return "Check the file's permissions."
        case (_, EPERM):
            return "Loading and unloading modules needs CAP_SYS_MODULE (run as root); also check that "
                + "/proc/sys/kernel/modules_disabled is 0 and that kernel lockdown allows unsigned modules."
        case (.load, EEXIST): return "A module with this name is already loaded: revert it first (kpatchctl revert NAME)."
        case (.load, EBUSY):
            return "Another livepatch is in transition (klp_enable_patch returns EBUSY): wait for it to finish "
                + "(kpatchctl status) or revert it."
        case (.load, ENOEXEC):
            return "Not a valid module for this kernel (bad ELF, wrong architecture or vermagic): see dmesg, "
                + "and rebuild the patch against the running kernel."
        case (.load, EINVAL):
            return "The module or its livepatch description is invalid (missing MODULE_INFO(livepatch, \"Y\"), "
                + "a bad klp relocation, or a function already patched by another patch): see dmesg."
        case (.load, ENOENT):
            return "The module needs a symbol the kernel does not have (Unknown symbol): see dmesg, and rebuild "
                + "against the running kernel."
        case (.load, EKEYREJECTED), (.load, EBADMSG):
            return "The module's signature was rejected: sign it with a key the kernel trusts."
        case (.load, ENOMEM): return "The kernel ran out of memory loading the module."
        case (.load, ENODEV): return "The kernel's livepatch core is not available."
        case (.unload, ENOENT): return "No module of this name is loaded (kpatchctl list)."
        case (.unload, EWOULDBLOCK), (.unload, EBUSY):
            return "The module is in use: a livepatch module can be unloaded only after it is disabled and "
                + "the kernel has finished unpatching (kpatchctl revert NAME)."
        default: return "See dmesg."
        }
    }

    public static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EEXIST: "EEXIST", EBUSY: "EBUSY", ENOEXEC: "ENOEXEC",
            EINVAL: "EINVAL", ENOMEM: "ENOMEM", ENODEV: "ENODEV", EWOULDBLOCK: "EWOULDBLOCK",
            EKEYREJECTED: "EKEYREJECTED", EBADMSG: "EBADMSG", EFAULT: "EFAULT", EACCES: "EACCES",
        ]
        return names[e] ?? "errno \(e)"
    }
}

/// Loads and unloads kernel modules with the file-descriptor interfaces.
public enum KernelModuleLoader {
    /// finit_module(2) on the file at `path`. Returns after the module's init ran:
    /// for a livepatch, after klp_enable_patch started the transition.
    public static func load(path: String, parameters: String = "") throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModuleLoaderError(operation: .open, subject: path, errno: errno) }
        defer { close(fd) }
        guard ckernel_finit_module(fd, parameters, 0) == 0 else {
            throw ModuleLoaderError(operation: .load, subject: path, errno: errno)
        }
    }

    /// delete_module(2) with O_NONBLOCK: fails with EWOULDBLOCK instead of waiting
    /// while the module is referenced.
    public static func unload(name: String) throws {
        guard ckernel_delete_module(name, UInt32(O_NONBLOCK)) == 0 else {
            throw ModuleLoaderError(operation: .unload, subject: name, errno: errno)
        }
    }

    /// A module is loaded when /sys/module/<name> has an initstate (built-ins have none).
    public static func isLoaded(_ name: String, sysModule: String = "/sys/module") -> Bool {
        KernelFile.exists("\(sysModule)/\(name)/initstate")
    }

    /// The modules that use symbols `name` exports (/sys/module/<name>/holders), sorted:
    /// while one is loaded, delete_module of `name` fails (EWOULDBLOCK).
    public static func holders(of name: String, sysModule: String = "/sys/module") throws -> [String] {
        try KernelFile.list("\(sysModule)/\(name)/holders").sorted()
    }

    /// A loaded livepatch module: its taint flags include K (TAINT_LIVEPATCH).
    public static func isLivepatchLoaded(_ name: String, sysModule: String = "/sys/module") -> Bool {
        isLoaded(name, sysModule: sysModule) && ((try? KernelFile.read("\(sysModule)/\(name)/taint"))?.contains("K") ?? false)
    }
}
