/// A task (thread) as /proc shows it, with its livepatch universe.
public struct KernelTask: Codable, Equatable, Sendable {
    /// Thread-group id (the process).
    public let pid: Int
    public let tid: Int
    public let comm: String
    public let isKthread: Bool
    public let patchState: PatchState

    public init(pid: Int, tid: Int, comm: String, isKthread: Bool, patchState: PatchState) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.isKthread = isKthread
        self.patchState = patchState
    }
}
