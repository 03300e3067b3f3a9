import PatchModel

/// What load-installed does with each installed patch of the running release.
public enum LoadInstalledAction: String, Codable, Sendable {
    /// Not loaded now: apply it.
    case apply
    /// Already a livepatch in the kernel: nothing to do (so load-installed can run twice).
    case alreadyLoaded = "already-loaded"
    /// A later cumulative (`--replace`) patch replaces it: applying it first would
    /// only be undone, and after the cumulative one replaced it, it must stay out.
    case superseded
}

/// The pure decision of load-installed: every installed patch, in install order,
/// with what to do. Every patch installed before the last cumulative one is
/// superseded by it, unless it is loaded now (then the cumulative one's apply
/// replaces it).
public enum LoadInstalledPlan {
    public static func make(installed: [InstalledPatch], loaded: Set<String>)
        -> [(patch: InstalledPatch, action: LoadInstalledAction)]
    {
        let ordered = installed.sorted { $0.sequence < $1.sequence }
        let lastCumulative = ordered.lastIndex { PatchFeatures(rawValue: $0.requiredFeatures).contains(.replace) }
        return ordered.enumerated().map { index, patch in
            if loaded.contains(patch.name) { return (patch, .alreadyLoaded) }
            if let last = lastCumulative, index < last { return (patch, .superseded) }
            return (patch, .apply)
        }
    }
}

/// How load-installed reaches the kernel: the controller in production; a test
/// fake only where no kernel is involved (the plan and the store).
public protocol InstalledPatchLoader {
    /// The livepatches (or patch modules) in the kernel now.
    func loadedPatches() throws -> Set<String>
    /// Applies the stored module; returns when the transition ended.
    func apply(_ patch: InstalledPatch, modulePath: String) throws -> ControllerReport
}

/// The result of one load-installed run.
public struct LoadInstalledReport: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public let name: String
        public let action: LoadInstalledAction
        /// For applied patches: how the transition ended.
        public var outcome: ControllerOutcome?
        public var transitionSeconds: Double?
        /// Why this patch was not applied.
        public var error: String?
        /// Applied, but a step after the transition failed (ControllerProblem), each
        /// naming what it left behind.
        public var problems: [String]?
    }
    public let release: String
    public let stateDir: String
    public var patches: [Entry]

    public var applied: [Entry] { patches.filter { $0.action == .apply && $0.outcome == .completed && $0.problems == nil } }
    public var failed: [Entry] {
        patches.filter { $0.action == .apply && ($0.outcome != .completed || $0.problems != nil) }
    }
}

/// Applies, in install order, every installed patch of `release` that is not
/// loaded. A failed patch is reported and the next one still tried: at boot,
/// one bad patch must not keep the others out.
public struct LoadInstalled {
    public let store: PatchStore
    public let release: String

    public init(store: PatchStore, release: String) {
        self.store = store
        self.release = release
    }

    public func run(loader: InstalledPatchLoader, willApply: (InstalledPatch) -> Void = { _ in })
        throws -> LoadInstalledReport
    {
        let plan = LoadInstalledPlan.make(installed: try store.installed(release: release), loaded: try loader.loadedPatches())
        var report = LoadInstalledReport(release: release, stateDir: store.root, patches: [])
        for (patch, action) in plan {
            var entry = LoadInstalledReport.Entry(name: patch.name, action: action)
            if action == .apply {
                willApply(patch)
                do {
                    let result = try loader.apply(patch, modulePath: store.modulePath(patch))
                    entry.outcome = result.outcome
                    entry.transitionSeconds = result.transitionSeconds
                    if result.outcome != .completed { entry.error = "transition \(result.outcome.rawValue)" }
                    if !result.problems.isEmpty { entry.problems = result.problems.map(\.description) }
                } catch {
                    entry.error = "\(error)"
                }
            }
            report.patches.append(entry)
        }
        return report
    }
}
