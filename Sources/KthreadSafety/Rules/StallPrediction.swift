import PatchModel

/// Which tasks would hold up a patching transition if it started now: every
/// task, user or kernel, with a replaced function on its stack. The stack check
/// fails for each of them until that function returns (a user task blocked in one
/// does not reach the return to user mode either).
public struct StallPrediction: Codable, Equatable, Sendable {
    public struct Task: Codable, Equatable, Sendable, CustomStringConvertible {
        public let pid: Int
        public let tid: Int
        public let comm: String
        public let isKthread: Bool
        /// The innermost frame in a replaced function.
        public let frame: StackFrame

        public var description: String {
            "pid \(pid) tid \(tid) \(comm) (\(isKthread ? "kthread" : "user")) is in replaced function \(frame) now: "
                + "the transition waits until it returns"
        }
    }

    public var tasks: [Task] = []
    /// Tasks whose stack could not be read (not root): not predicted.
    public var unreadableStacks = 0
    public var checkedTasks = 0

    public var clean: Bool { tasks.isEmpty }

    public init() {}

    /// `stack`: the task's kernel stack, nil when it cannot be read (KernelRuntime
    /// passes /proc's tasks and stacks).
    public static func predict(replaced: [ReplacedFunction], tasks: [KernelTask],
                               stack readableStack: (KernelTask) -> [StackFrame]?) -> StallPrediction {
        var prediction = StallPrediction()
        let names = Set(replaced.map { "\($0.object)\u{0}\(FunctionRef.baseName($0.name))" })
        for task in tasks {
            prediction.checkedTasks += 1
            guard let stack = readableStack(task) else {
                prediction.unreadableStacks += 1
                continue
            }
            if let frame = stack.first(where: { names.contains("\($0.module ?? "vmlinux")\u{0}\($0.baseFunction)") }) {
                prediction.tasks.append(Task(pid: task.pid, tid: task.tid, comm: task.comm, isKthread: task.isKthread, frame: frame))
            }
        }
        return prediction
    }
}
