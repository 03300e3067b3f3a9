import PatchModel

/// A kernel thread as seen in /proc: its thread function, whether the livepatch
/// consistency model can switch it between units of work (`conversion`), and
/// which of its stack frames stay there while it waits (`residentFrames`).
public struct LiveKthread: Equatable, Codable, Sendable {
    public var pid: Int
    public var comm: String
    /// The thread function (the frame below `kthread`), nil when the stack did not show it.
    public var entry: String?
    public var converted: Bool
    /// Converted or not, and why (for an unknown entry: why it is unknown).
    public var conversion: KthreadConversion
    /// /proc/PID/stack, innermost first (empty when unreadable, or running when read).
    public var stack: [StackFrame]
    /// The frames that stay on the stack while the kthread waits between units of
    /// work (innermost first): a patch replacing one would never see it switch.
    /// Unconverted: the whole stack (its own loop). Converted and idle: the whole
    /// stack. Converted inside a unit of work: the entry and the frames outside it.
    /// Empty when the entry is unknown.
    public var residentFrames: [StackFrame]

    /// `stackError`: why /proc/PID/stack could not be read, when it could not.
    public init(pid: Int, comm: String, stack: [StackFrame], stackError: String? = nil) {
        self.pid = pid
        self.comm = comm
        self.stack = stack
        let entryIndex = ProcStack.threadFunctionIndex(of: stack)
        entry = entryIndex.map { stack[$0].baseFunction }
        let unknownWhy: String
        if let stackError {
            unknownWhy = "/proc/\(pid)/stack unreadable: \(stackError)"
        } else if stack.isEmpty {
            unknownWhy = "/proc/\(pid)/stack was empty: it was running on a CPU when read"
        } else {
            unknownWhy = "/proc/\(pid)/stack shows no kthread() or ret_from_fork frame below its thread function"
        }
        conversion = KthreadConversion.classify(entry: entry, unknownWhy: unknownWhy)
        converted = conversion.converted
        residentFrames = Self.resident(stack: stack, entryIndex: entryIndex, conversion: conversion)
    }

    /// From the text of /proc/PID/stat and /proc/PID/stack; nil for a user task.
    public init?(statText: String, stackText: String, stackError: String? = nil) throws {
        let stat = try ProcStat(parsing: statText)
        guard stat.isKthread else { return nil }
        self.init(pid: stat.pid, comm: stat.comm, stack: ProcStack.parse(stackText), stackError: stackError)
    }

    private static func resident(stack: [StackFrame], entryIndex: Int?, conversion: KthreadConversion) -> [StackFrame] {
        guard let entryIndex else { return [] }
        guard conversion.converted, entryIndex > 0, let loop = KthreadConversion.loop(entry: stack[entryIndex].baseFunction) else {
            return stack
        }
        // The frame the loop called: a wait of the loop (idle) or a unit of work.
        if loop.idleWaits.contains(stack[entryIndex - 1].baseFunction) { return stack }
        return Array(stack[entryIndex...])
    }
}
