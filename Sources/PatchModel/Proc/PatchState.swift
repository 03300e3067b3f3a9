/// A task's universe, from /proc/<pid>/task/<tid>/patch_state.
public enum PatchState: Int, Codable, Sendable, CustomStringConvertible {
    /// No transition is running.
    case idle = -1
    /// Still runs the old code.
    case unpatched = 0
    /// Runs the new code.
    case patched = 1

    public init?(text: String) {
        guard let value = Int(text.trimmingTrailingNewlines()), let state = PatchState(rawValue: value) else { return nil }
        self = state
    }

    public var description: String {
        switch self {
        case .idle: return "none"
        case .unpatched: return "unpatched"
        case .patched: return "patched"
        }
    }
}
