import Glibc
import PatchModel

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
    /// The module loaded but registered no livepatch of its name. `unloadError`:
    /// why it could not be unloaded again (it stays loaded), nil when it was.
    case notRegistered(module: String, unloadError: String? = nil)
    /// The module is loaded (apply) or its patch disabled (revert), then reading
    /// its livepatch state failed: the transition may still run.
    case lostTransition(patch: String, direction: TransitionDirection, error: Error)
    /// kpatchctl's transition record could not be written before anything was
    /// changed: nothing was loaded or disabled.
    case stateFile(path: String, error: Error)
    /// revert: no livepatch of that name is loaded.
    case noSuchPatch(String, loaded: [String])
    /// revert: the patch is already disabled and unpatching.
    case alreadyDisabled(String)
    /// apply: SIGINT/SIGTERM arrived before the module was loaded; nothing was.
    case interruptedBeforeLoading(module: String)
    /// A pre-patch callback returned an error: the kernel refused the patch and
    /// nothing stays loaded. `callback` is nil when the log did not say which.
    case vetoed(patch: String, callback: PatchCallback?, candidates: [PatchCallback], error: ModuleLoaderError)
    /// The kernel refused the patch's system states (klp_is_patch_compatible);
    /// apply's own check had no record of the running patches' states.
    case incompatibleStates(patch: String, states: [SystemState], replace: Bool)

    public var description: String {
        switch self {
        case .badModule(let e): return e.description
        case .refused(let failures):
            return "refused before loading anything:\n" + failures.map { "  - \($0)" }.joined(separator: "\n")
        case .lock(let e): return e.description
        case .loader(let e): return e.description
        case .sysfs(let e): return "reading the livepatch state failed: \(e)"
        case .notRegistered(let module, let unloadError):
            let left = unloadError.map { "unloading it failed (\($0)): module \(module) is still loaded: run rmmod \(module)" }
                ?? "it was unloaded"
            return "module \(module) loaded but no /sys/kernel/livepatch/\(module) appeared: it is not a livepatch "
                + "module (its init must call klp_enable_patch); \(left)"
        case .lostTransition(let patch, let direction, let error):
            return "following the \(direction.rawValue) transition of \(patch) failed: \(error): module \(patch) is still loaded "
                + "and its transition may still run: see kpatchctl status, then run kpatchctl revert \(patch)"
        case .stateFile(let path, let error):
            return "cannot write the transition record \(path): \(error); nothing was changed"
        case .noSuchPatch(let name, let loaded):
            let list = loaded.isEmpty ? "no livepatch is loaded" : "loaded: \(loaded.joined(separator: ", "))"
            return "no livepatch named \(name) (\(list)); see kpatchctl list"
        case .alreadyDisabled(let name):
            return "livepatch \(name) is already disabled and unpatching: wait for it (kpatchctl status)"
        case .interruptedBeforeLoading(let module):
            return "interrupted before loading \(module): nothing was loaded"
        case .vetoed(let patch, let callback, let candidates, let error):
            let errnoText = "\(ModuleLoaderError.errnoName(error.errno)) (\(String(cString: strerror(error.errno))))"
            let who = callback.map { "pre-patch callback \($0.function) of object \($0.object)" }
                ?? "one of its pre-patch callbacks (" + candidates.map { "\($0.function) of \($0.object)" }.joined(separator: ", ") + ")"
            return "\(patch): \(who) vetoed the patch with \(errnoText); the kernel refused it and nothing stays loaded"
        case .incompatibleStates(let patch, let states, let replace):
            let declared = states.isEmpty ? "declares no system state" : "declares " + states.map(\.description).joined(separator: ", ")
            return "the kernel refused \(patch): its system states are not compatible with the running livepatches "
                + "(it \(declared)\(replace ? " and replaces them all" : ""); a running patch set up a state at a newer version, "
                + "or one this cumulative patch does not declare). Nothing stays loaded; see kpatchctl status and docs/AUTHOR-API.md"
        }
    }
}

/// A step that failed after apply or revert changed the kernel (or once its
/// transition ended): what failed, what it left behind and what ends it.
/// "reversal failed: ...: module X still loaded: run kpatchctl revert X".
public struct ControllerProblem: Codable, Equatable, Sendable, CustomStringConvertible {
    /// "reversal", "unload", "unload-replaced", "transition-log", "applied-record".
    public let step: String
    /// The error, as the failing call reported it.
    public let error: String
    /// What is left: "module livepatch_x is still loaded (its patch is disabled)".
    public let leftBehind: String
    /// What ends it ("run kpatchctl revert livepatch_x"); empty when nothing needs doing.
    public let remedy: String

    public init(step: String, error: String, leftBehind: String, remedy: String) {
        self.step = step
        self.error = error
        self.leftBehind = leftBehind
        self.remedy = remedy
    }

    public var description: String {
        "\(step) failed: \(error): \(leftBehind)" + (remedy.isEmpty ? "" : ": \(remedy)")
    }
}
