/// A kernel thread as seen in /proc, with its thread function and whether the
/// livepatch consistency model can switch it between work items.
public struct LiveKthread: Equatable, Codable, Sendable {
    /// Thread functions that return to a generic loop between work items, where
    /// no patched function is on the stack: workqueue workers and kthread workers.
    public static let convertedEntries: Set<String> = ["worker_thread", "rescuer_thread", "kthread_worker_fn"]

    public var pid: Int
    public var comm: String
    /// The thread function (the frame below `kthread`), nil when the stack did not show it.
    public var entry: String?
    public var converted: Bool
    /// /proc/PID/stack, innermost first (empty when unreadable).
    public var stack: [StackFrame]

    public init(pid: Int, comm: String, stack: [StackFrame]) {
        self.pid = pid
        self.comm = comm
        self.stack = stack
        entry = ProcStack.threadFunction(of: stack)
        converted = entry.map { Self.convertedEntries.contains($0) } ?? false
    }

    /// From the text of /proc/PID/stat and /proc/PID/stack; nil for a user task.
    public init?(statText: String, stackText: String) throws {
        let stat = try ProcStat(parsing: statText)
        guard stat.isKthread else { return nil }
        self.init(pid: stat.pid, comm: stat.comm, stack: ProcStack.parse(stackText))
    }
}
