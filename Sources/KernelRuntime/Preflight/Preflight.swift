import PatchModel

/// What a preflight check sees: the patch module (not loaded) and the running system.
public struct PreflightContext: Sendable {
    public let modulePath: String
    public let module: ModuleInfo
    public let sysfs: LivepatchSysfs
    public let proc: ProcTasks
    public let sysModule: String

    public init(modulePath: String, module: ModuleInfo, sysfs: LivepatchSysfs = LivepatchSysfs(),
                proc: ProcTasks = ProcTasks(), sysModule: String = "/sys/module") {
        self.modulePath = modulePath
        self.module = module
        self.sysfs = sysfs
        self.proc = proc
        self.sysModule = sysModule
    }
}

/// A refusal by one check: what is wrong, naming the thing, and what to do instead.
public struct PreflightFailure: Error, Codable, Equatable, Sendable, CustomStringConvertible {
    public let check: String
    public let reason: String
    public let advice: String

    public init(check: String, reason: String, advice: String) {
        self.check = check
        self.reason = reason
        self.advice = advice
    }

    public var description: String { "\(check): \(reason); \(advice)" }
}

/// One condition a patch must meet before anything is loaded. Checks only read.
public protocol PreflightCheck: Sendable {
    var name: String { get }
    /// nil when the condition holds.
    func check(_ context: PreflightContext) -> PreflightFailure?
}

/// Runs every check (not just up to the first failure) so one attempt reports
/// every problem.
public struct Preflight: Sendable {
    public var checks: [any PreflightCheck]

    public init(checks: [any PreflightCheck]) { self.checks = checks }

    /// The checks apply always runs; callers append their own (identity checks).
    public static let runtime = Preflight(checks: [
        PrivilegeCheck(), LivepatchSupportCheck(), LivepatchModuleCheck(),
        NameNotLoadedCheck(), NoTransitionRunningCheck(), ModuleSignatureCheck(),
    ])

    public func appending(_ more: [any PreflightCheck]) -> Preflight { Preflight(checks: checks + more) }

    public func run(_ context: PreflightContext) -> [PreflightFailure] {
        checks.compactMap { $0.check(context) }
    }
}
