import PatchModel

/// `kpatchctl check`: is every patch installed for the running release live, that
/// is loaded, enabled and with its transition finished? What a fleet's monitoring
/// runs; the verdict is decided here from the store and the kernel's livepatch
/// state, the CLI only maps it to an exit code (docs/CLI.md).
public struct InstalledPatchCheck: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        /// Loaded, enabled, every task switched.
        case live
        /// Installed, not in the kernel.
        case notLoaded = "not-loaded"
        /// In the kernel, its transition still running (either direction).
        case inTransition = "in-transition"
        /// In the kernel but disabled: it patches nothing.
        case disabled
        /// Installed before the last cumulative patch, which replaces it: not expected to be loaded.
        case superseded
    }

    public struct Entry: Codable, Sendable {
        public let name: String
        public let sequence: Int
        public let state: State
        /// Why it is not live, and what to run.
        public let reason: String?
        public let cves: [String]
    }

    /// The overall verdict, worst first: an installed patch missing from the kernel
    /// outranks one still switching.
    public enum Verdict: String, Codable, Sendable {
        case live, notLoaded = "not-loaded", inTransition = "in-transition"
    }

    public let release: String
    public let stateDir: String
    public let patches: [Entry]
    /// Livepatches in the kernel that are not installed for this release (applied by
    /// hand, or uninstalled since): reported, not a failure.
    public let notInstalled: [String]
    public let verdict: Verdict

    public static func evaluate(release: String, stateDir: String, installed: [InstalledPatch],
                                loaded: [LivepatchPatch]) -> InstalledPatchCheck {
        let byName = Dictionary(loaded.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let enabled = Set(loaded.filter(\.enabled).map(\.name))
        let plan = LoadInstalledPlan.make(installed: installed, loaded: enabled)
        let entries = plan.map { patch, action -> Entry in
            let cves = patch.operations?.cves ?? []
            if action == .superseded {
                return Entry(name: patch.name, sequence: patch.sequence, state: .superseded, reason: nil, cves: cves)
            }
            guard let live = byName[patch.name] else {
                return Entry(name: patch.name, sequence: patch.sequence, state: .notLoaded,
                             reason: "installed for \(release) but not in the kernel: kpatchctl load-installed applies it",
                             cves: cves)
            }
            if live.transition {
                return Entry(name: patch.name, sequence: patch.sequence, state: .inTransition,
                             reason: "its transition (\(live.enabled ? "patching" : "unpatching")) is still running: kpatchctl status names the tasks it waits for",
                             cves: cves)
            }
            if !live.enabled {
                return Entry(name: patch.name, sequence: patch.sequence, state: .disabled,
                             reason: "loaded but disabled, so it patches nothing: kpatchctl revert \(patch.name), then kpatchctl load-installed",
                             cves: cves)
            }
            return Entry(name: patch.name, sequence: patch.sequence, state: .live, reason: nil, cves: cves)
        }
        let installedNames = Set(installed.map(\.name))
        let verdict: Verdict
        if entries.contains(where: { $0.state == .notLoaded || $0.state == .disabled }) {
            verdict = .notLoaded
        } else if entries.contains(where: { $0.state == .inTransition }) {
            verdict = .inTransition
        } else {
            verdict = .live
        }
        return InstalledPatchCheck(release: release, stateDir: stateDir, patches: entries,
                                   notInstalled: loaded.map(\.name).filter { !installedNames.contains($0) }.sorted(),
                                   verdict: verdict)
    }
}
