import CElf

/// Process-wide libelf state. libelf refuses every call until the application
/// has declared the ELF version it speaks; `ensureInitialized()` does that once.
public enum ELFLibrary {
    private static let initialized: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

    /// Declares EV_CURRENT to libelf; returns false when libelf is unusable.
    @discardableResult
    public static func ensureInitialized() -> Bool { initialized }

    /// elfutils' version string, e.g. "0.188".
    public static var version: String {
        ensureInitialized()
        return dwfl_version(nil).map { String(cString: $0) } ?? "unknown"
    }
}
