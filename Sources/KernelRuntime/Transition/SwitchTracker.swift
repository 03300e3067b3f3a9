import PatchModel

/// How one task switched universe during a transition.
public struct TaskSwitch: Codable, Equatable, Sendable {
    public let pid: Int
    public let tid: Int
    public let comm: String
    public let kthread: Bool
    public let path: SwitchPath
    /// True when a trace event says so; false when inferred from polling
    /// (a kthread can only switch by a stack check).
    public let traced: Bool
    /// Seconds after the transition started.
    public let seconds: Double
}

/// Follows every task through one transition: samples /proc/*/task/*/patch_state
/// (the live count) and, when tracefs probes are there, attributes each switch
/// to the return to user mode or to a stack check from their events.
public final class SwitchTracker {
    public let direction: TransitionDirection
    public let probes: SwitchProbes?
    private let proc: ProcTasks
    /// CLOCK_MONOTONIC at the start, the trace clock's base.
    public let start: Double
    private var samples = 0

    private struct Seen {
        let task: KernelTask
        /// First sample showed it already in the target universe, and it did not
        /// exist at the first sample: a child of a switched parent.
        let bornSwitched: Bool
        var switchedAt: Double?
    }
    private var seen: [Int: Seen] = [:]

    public init(direction: TransitionDirection, proc: ProcTasks = ProcTasks(), probes: SwitchProbes?,
                start: Double = KernelFile.monotonicNow()) {
        self.direction = direction
        self.proc = proc
        self.probes = probes
        self.start = start
    }

    /// Takes one sample: (tasks in the target universe, tasks taking part).
    @discardableResult
    public func sample(now: Double = KernelFile.monotonicNow()) -> (migrated: Int, total: Int) {
        var migrated = 0, total = 0
        for task in proc.all() where task.patchState != .idle {
            total += 1
            let done = task.patchState == direction.target
            if done { migrated += 1 }
            if var entry = seen[task.tid] {
                if done && entry.switchedAt == nil { entry.switchedAt = now; seen[task.tid] = entry }
            } else {
                seen[task.tid] = Seen(task: task, bornSwitched: samples > 0 && done, switchedAt: done ? now : nil)
            }
        }
        samples += 1
        return (migrated, total)
    }

    /// Every task seen, with how and when it switched. `end` is when the
    /// transition was seen complete: tasks not yet seen switched did so before it.
    /// `completed` false (timeout) leaves out the tasks that never switched.
    public func switches(end: Double, completed: Bool) -> [TaskSwitch] {
        let traced = SwitchEvent.switches(probes?.events() ?? [])
        // Tasks that switched before the first sample (klp_enable_patch tries every
        // task once before returning) are known from their events only.
        let unseen = traced.keys.filter { seen[$0] == nil }
        if !unseen.isEmpty {
            let byTid = Dictionary(proc.all().map { ($0.tid, $0) }, uniquingKeysWith: { a, _ in a })
            for tid in unseen {
                if let task = byTid[tid] { seen[tid] = Seen(task: task, bornSwitched: false, switchedAt: nil) }
            }
        }
        var result: [TaskSwitch] = []
        for (tid, entry) in seen {
            guard entry.switchedAt != nil || completed || traced[tid] != nil else { continue }
            let path: SwitchPath, wasTraced: Bool, time: Double
            if let event = traced[tid], event.time >= start {
                (path, wasTraced, time) = (event.path, true, event.time)
            } else if entry.bornSwitched {
                (path, wasTraced, time) = (.fork, false, entry.switchedAt ?? end)
            } else {
                (path, wasTraced, time) = (inferredPath(entry.task), false, entry.switchedAt ?? end)
            }
            result.append(TaskSwitch(pid: entry.task.pid, tid: tid, comm: entry.task.comm, kthread: entry.task.isKthread,
                                     path: path, traced: wasTraced, seconds: max(0, time - start)))
        }
        return result.sorted { ($0.seconds, $0.tid) < ($1.seconds, $1.tid) }
    }

    /// A switch no event explains. A kthread never returns to user mode, so a stack
    /// check switched it; so was a user task when user_return is traced but stack
    /// checks are not. Otherwise we cannot tell.
    private func inferredPath(_ task: KernelTask) -> SwitchPath {
        if task.isKthread { return .stackCheck }
        if let probes, !probes.tracesStackChecks { return .stackCheck }
        return .unknown
    }
}
