import Glibc
import PatchModel

/// A running transition as `status` shows it.
public struct TransitionStatus: Codable, Sendable {
    public let direction: TransitionDirection
    /// Seconds since it started, when a kpatchctl started it (from /run/kpatchctl).
    public let ageSeconds: Double?
    public let migrated: Int
    public let total: Int
    /// Tasks not yet in the target universe, with the patched functions on their stacks.
    public let blockers: [BlockingTask]
}

/// One loaded livepatch.
public struct PatchStatus: Codable, Sendable {
    public let name: String
    public let enabled: Bool
    public let transition: Bool
    public let objects: [LivepatchObject]
    public let running: TransitionStatus?
    /// The kernel's `replace` attribute: cumulative (nil on kernels without it).
    public var replace: Bool? = nil
    /// What apply recorded (nil for a patch kpatchctl did not apply): when,
    /// whether cumulative, which patches it replaced, its system states.
    public var applied: AppliedPatch? = nil
}

/// The last finished transition, summarized.
public struct TransitionSummary: Codable, Sendable {
    public let patch: String
    public let direction: TransitionDirection
    public let outcome: TransitionRecord.Outcome
    public let startedAt: Double
    public let seconds: Double?
    public let tracking: String
    public let switched: Int
    /// Switches per path: user-return, stack-check, fork, unknown.
    public let countsByPath: [String: Int]
    /// The tasks that switched last, slowest first.
    public let slowest: [TaskSwitch]
    public let blockers: [BlockingTask]

    public init(_ record: TransitionRecord, slowest n: Int = 5) {
        patch = record.patch
        direction = record.direction
        outcome = record.outcome
        startedAt = record.startedAt
        seconds = record.seconds
        tracking = record.tracking
        switched = record.switches.count
        countsByPath = record.countsByPath
        slowest = record.slowest(n)
        blockers = record.blockers
    }
}

/// The kpatchctl apply/revert named in the transition lock, and whether it still runs.
public struct LockStatus: Codable, Sendable {
    public let holder: LockHolder
    /// false: it died (kill -9) and left its transition to the next apply/revert.
    public let running: Bool
}

/// A livepatch module (taint K) loaded without a patch in /sys/kernel/livepatch: its
/// patch finished unpatching but a kpatchctl died before unloading it, or its init
/// has not registered it yet. Nothing of it is patched.
public struct UnregisteredModule: Codable, Sendable {
    public let name: String
    /// /sys/module/NAME/initstate: "live", "coming" or "going".
    public let state: String
}

/// What `kpatchctl status` reports: every loaded patch, the running transition's
/// blockers, the controller holding the lock, and the last transition's log.
public struct StatusReport: Codable, Sendable {
    public let patches: [PatchStatus]
    /// Livepatch modules loaded with no patch in sysfs; absent when there are none.
    public var unregisteredModules: [UnregisteredModule]? = nil
    public let lock: LockStatus?
    public let lastTransition: TransitionSummary?

    public static func collect(sysfs: LivepatchSysfs = LivepatchSysfs(), proc: ProcTasks = ProcTasks(),
                               log: TransitionLog = TransitionLog(),
                               lockPath: String = TransitionLock.defaultPath,
                               sysModule: String = "/sys/module") throws -> StatusReport {
        let applied = AppliedPatchLog(log: log).all()
        let patches = try sysfs.patches()
        // A record left by a kpatchctl that died says nothing about the running transition.
        let current = log.current().flatMap { kill(pid_t($0.controllerPid), 0) == 0 || errno == EPERM ? $0 : nil }
        let tasks = patches.contains { $0.transition } ? proc.all() : []
        let now = KernelFile.wallNow()
        let checks = tasks.isEmpty ? [:] : SwitchEvent.lastStackChecks(SwitchProbes.recordedEvents())
        let statuses = patches.map { patch -> PatchStatus in
            var running: TransitionStatus?
            if let direction = patch.direction {
                let taking = tasks.filter { $0.patchState != .idle }
                let age = current.flatMap { $0.patch == patch.name ? now - $0.startedAt : nil }
                running = TransitionStatus(
                    direction: direction, ageSeconds: age,
                    migrated: taking.filter { $0.patchState == direction.target }.count, total: taking.count,
                    blockers: TransitionBlockers.find(patch: patch, tasks: tasks, proc: proc,
                                                      lastStackChecks: checks))
            }
            return PatchStatus(name: patch.name, enabled: patch.enabled, transition: patch.transition,
                               objects: patch.objects, running: running, replace: patch.replace,
                               applied: applied.first { $0.name == patch.name })
        }
        let lock = TransitionLock.recordedHolder(path: lockPath).map { LockStatus(holder: $0, running: $0.isRunning) }
        var report = StatusReport(patches: statuses, lock: lock, lastTransition: log.last().map { TransitionSummary($0) })
        let unregistered = try unregisteredModules(registered: Set(patches.map(\.name)), sysModule: sysModule)
        if !unregistered.isEmpty { report.unregisteredModules = unregistered }
        return report
    }

    /// Livepatch modules in /sys/module whose patch is not in sysfs.
    static func unregisteredModules(registered: Set<String>, sysModule: String) throws -> [UnregisteredModule] {
        var found: [UnregisteredModule] = []
        for name in try KernelFile.list(sysModule).sorted()
        where !registered.contains(name) && KernelModuleLoader.isLivepatchLoaded(name, sysModule: sysModule) {
            // A module unloading between the two reads: its state is no longer there.
            let state: String?
            do { state = try KernelFile.readValue("\(sysModule)/\(name)/initstate") } catch { state = nil }
            found.append(UnregisteredModule(name: name, state: state ?? "gone"))
        }
        return found
    }
}
