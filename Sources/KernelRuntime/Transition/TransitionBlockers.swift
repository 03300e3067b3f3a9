import PatchModel

/// A task still in the old universe during a transition, and why.
public struct BlockingTask: Codable, Equatable, Sendable {
    public let task: KernelTask
    /// Functions of the transitioning patch found on the task's stack: while one
    /// is there the stack check fails. Empty when the reason is elsewhere (the
    /// task runs on another CPU, or is a user task that has not left the kernel yet).
    public let patchedFunctionsOnStack: [String]
    public let stack: [StackFrame]
    /// The latest stack check's result from the trace (0 or -errno), when traced.
    public let lastStackCheck: Int?

    /// What the kernel's stack check said (the kernel only pr_debug()s it).
    public var lastStackCheckReason: String? {
        lastStackCheck.map(TransitionBlockers.stackCheckReason)
    }
}

/// Finds the tasks a transition still waits for. A task blocks while its
/// patch_state differs from the patch's target universe.
public enum TransitionBlockers {
    public static func isBlocking(_ task: KernelTask, direction: TransitionDirection) -> Bool {
        task.patchState != .idle && task.patchState != direction.target
    }

    /// `lastStackChecks`: checked tid -> latest klp_check_and_switch_task result.
    public static func find(patch: LivepatchPatch, tasks: [KernelTask], proc: ProcTasks,
                            lastStackChecks: [Int: Int] = [:]) -> [BlockingTask] {
        guard let direction = patch.direction else { return [] }
        let functions = patch.functionNames
        return tasks.filter { isBlocking($0, direction: direction) }.map { task in
            let stack = proc.stack(pid: task.pid, tid: task.tid)
            return BlockingTask(task: task,
                                patchedFunctionsOnStack: patchedFrames(stack, functions: functions, patchModule: patch.name,
                                                                       newCode: patch.replacementNames),
                                stack: stack, lastStackCheck: lastStackChecks[task.tid])
        }
    }

    /// klp_check_and_switch_task's return values (transition.c).
    public static func stackCheckReason(_ result: Int) -> String {
        switch result {
        case 0: return "switched"
        case -16: return "EBUSY: it was running on another CPU"
        case -22: return "EINVAL: its stack is not reliable"
        case -98: return "EADDRINUSE: a patched function is on its stack"
        default: return "error \(result)"
        }
    }

    /// Distinct names on `stack` of the old functions (`functions`) or of the new
    /// ones (code in the patch module, which blocks an unpatching transition;
    /// `newCode` names the function a replacement symbol replaces), innermost first.
    public static func patchedFrames(_ stack: [StackFrame], functions: Set<String>, patchModule: String,
                                     newCode: [String: String] = [:]) -> [String] {
        var seen: [String] = []
        for frame in stack where functions.contains(frame.function) || frame.module == patchModule {
            let name = frame.module == patchModule
                ? newCode[frame.function].map { "\($0) (new code)" } ?? frame.function
                : frame.function
            if !seen.contains(name) { seen.append(name) }
        }
        return seen
    }
}
