extension StackFrame {
    /// The source function's name: a GCC clone suffix such as `.isra.0` removed.
    public var baseFunction: String { FunctionRef.baseName(function) }
}

public enum ProcStack {
    /// Frames innermost first; lines that are not symbolized frames are skipped.
    public static func parse(_ text: String) -> [StackFrame] { StackFrame.parseStack(text) }

    /// The kthread's thread function: the frame `kthread()` called. kthreadd
    /// itself is started by `ret_from_fork` without `kthread`. Nil when the stack
    /// does not show it (unreadable, or the task was running when read).
    public static func threadFunction(of frames: [StackFrame]) -> String? {
        threadFunctionIndex(of: frames).map { frames[$0].baseFunction }
    }

    /// The index of the thread function's frame in `frames`.
    public static func threadFunctionIndex(of frames: [StackFrame]) -> Int? {
        let anchor = frames.firstIndex { $0.baseFunction == "kthread" } ?? frames.firstIndex { $0.baseFunction == "ret_from_fork" }
        guard let anchor, anchor > 0 else { return nil }
        return anchor - 1
    }
}
