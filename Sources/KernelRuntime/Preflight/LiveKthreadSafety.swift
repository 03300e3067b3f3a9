import KthreadSafety
import PatchModel

/// The apply-time entry points into KthreadSafety: its rules over the live
/// system's tasks, read from /proc here.
extension StallPrediction {
    /// The tasks (user or kernel) in a replaced function now.
    public static func predict(replaced: [ReplacedFunction], proc: ProcTasks = ProcTasks()) -> StallPrediction {
        predict(replaced: replaced, tasks: proc.all(), stack: { proc.readableStack(pid: $0.pid, tid: $0.tid) })
    }
}
