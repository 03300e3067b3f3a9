/// Why a call graph could not be built, loaded or queried.
public enum CallGraphError: Error, CustomStringConvertible, Equatable {
    case dwarf(path: String, what: String, message: String)
    case noDebugInfo(path: String)
    case badCache(path: String, reason: String)
    case unknownFunction(String)

    public var description: String {
        switch self {
        case .dwarf(let path, let what, let message):
            return "\(path): \(what) failed: \(message)"
        case .noDebugInfo(let path):
            return "\(path): no DWARF debug info; build it with -g (Kbuild: CONFIG_DEBUG_INFO) or use the distribution's debug vmlinux"
        case .badCache(let path, let reason):
            return "call-graph cache \(path) is unusable (\(reason)); delete it and it will be rebuilt from DWARF"
        case .unknownFunction(let name):
            return "no function named \(name) in the call graph; check the spelling, or that the right debug info was given"
        }
    }
}
