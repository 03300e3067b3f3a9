import PatchModel

/// Reads tasks from /proc. Tasks exit at any time: one that vanishes while being
/// read is skipped, never an error.
public struct ProcTasks: Sendable {
    public let root: String

    public init(root: String = "/proc") { self.root = root }

    /// Every task with a patch_state (idle tasks have no /proc entry).
    public func all() -> [KernelTask] {
        let pids = ((try? KernelFile.list(root)) ?? []).compactMap(Int.init).sorted()
        var tasks: [KernelTask] = []
        for pid in pids {
            let tids = ((try? KernelFile.list("\(root)/\(pid)/task")) ?? []).compactMap(Int.init).sorted()
            for tid in tids {
                if let task = task(pid: pid, tid: tid) { tasks.append(task) }
            }
        }
        return tasks
    }

    public func task(pid: Int, tid: Int) -> KernelTask? {
        let dir = "\(root)/\(pid)/task/\(tid)"
        guard let statText = try? KernelFile.read("\(dir)/stat"), let stat = try? ProcStat(parsing: statText),
              let stateText = try? KernelFile.read("\(dir)/patch_state"),
              let state = PatchState(text: stateText) else { return nil }
        return KernelTask(pid: pid, tid: tid, comm: stat.comm, isKthread: stat.isKthread, patchState: state)
    }

    /// The task's kernel stack (needs root); empty when it cannot be read.
    public func stack(pid: Int, tid: Int) -> [StackFrame] { readableStack(pid: pid, tid: tid) ?? [] }

    /// The task's kernel stack; nil when it cannot be read (not root, or the task exited).
    public func readableStack(pid: Int, tid: Int) -> [StackFrame]? {
        guard let text = try? KernelFile.read("\(root)/\(pid)/task/\(tid)/stack") else { return nil }
        return StackFrame.parseStack(text)
    }
}
