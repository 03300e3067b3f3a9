/// Why apply or revert stopped. Every case names the patch, file or task involved.
public enum ControllerError: Error, CustomStringConvertible {
    /// The module file could not be read as a kernel module.
    case badModule(ModuleInfoError)
    /// Preflight refused: nothing was loaded.
    case refused([PreflightFailure])
    case lock(TransitionLockError)
    /// finit_module or delete_module failed.
    case loader(ModuleLoaderError)
    case sysfs(Error)
    /// The module loaded but registered no livepatch of its name.
    case notRegistered(module: String)
    /// revert: no livepatch of that name is loaded.
    case noSuchPatch(String, loaded: [String])
    /// revert: the patch is already disabled and unpatching.
    case alreadyDisabled(String)
    /// apply: SIGINT/SIGTERM arrived before the module was loaded; nothing was.
    case interruptedBeforeLoading(module: String)

    public var description: String {
        switch self {
        case .badModule(let e): return e.description
        case .refused(let failures):
            return "refused before loading anything:\n" + failures.map { "  - \($0)" }.joined(separator: "\n")
        case .lock(let e): return e.description
        case .loader(let e): return e.description
        case .sysfs(let e): return "reading the livepatch state failed: \(e)"
        case .notRegistered(let module):
            return "module \(module) loaded but no /sys/kernel/livepatch/\(module) appeared: it is not a livepatch "
                + "module (its init must call klp_enable_patch); it was unloaded"
        case .noSuchPatch(let name, let loaded):
            let list = loaded.isEmpty ? "no livepatch is loaded" : "loaded: \(loaded.joined(separator: ", "))"
            return "no livepatch named \(name) (\(list)); see kpatchctl list"
        case .alreadyDisabled(let name):
            return "livepatch \(name) is already disabled and unpatching: wait for it (kpatchctl status)"
        case .interruptedBeforeLoading(let module):
            return "interrupted before loading \(module): nothing was loaded"
        }
    }
}
