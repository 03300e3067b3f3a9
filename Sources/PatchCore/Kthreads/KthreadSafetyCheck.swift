/// The apply-time decision: may a patch whose kthread reachability is known be
/// loaded while these kthreads run? Refused, unless allowed by an override:
/// - an unconverted kthread whose thread function reaches a patched function
///   (it switches only when no patched function is on its stack, and would run
///   old and new code across iterations);
/// - any kthread asleep in a patched function right now (it stalls the transition).
public struct KthreadSafetyCheck: Sendable {
    /// One per analysed object of the patch (vmlinux, each patched module).
    public var reachabilities: [KthreadReachability]
    /// `--allow-kthread COMM`: findings for kthreads with these comms are allowed.
    public var allowComms: Set<String>
    /// `--allow-all-kthreads`.
    public var allowAll: Bool

    public init(reachabilities: [KthreadReachability], allowComms: Set<String> = [], allowAll: Bool = false) {
        self.reachabilities = reachabilities
        self.allowComms = allowComms
        self.allowAll = allowAll
    }

    public init(reachability: KthreadReachability, allowComms: Set<String> = [], allowAll: Bool = false) {
        self.init(reachabilities: [reachability], allowComms: allowComms, allowAll: allowAll)
    }

    public func evaluate(_ kthreads: [LiveKthread]) -> KthreadSafetyReport {
        var report = KthreadSafetyReport()
        for thread in kthreads {
            for var finding in findings(for: thread) {
                if allowAll {
                    finding.allowedBy = "--allow-all-kthreads"
                } else if allowComms.contains(thread.comm) {
                    finding.allowedBy = "--allow-kthread \(thread.comm)"
                }
                if finding.allowedBy == nil { report.refusals.append(finding) } else { report.allowed.append(finding) }
            }
            if thread.entry == nil { report.unknownEntry.append(KthreadSafetyReport.Unchecked(pid: thread.pid, comm: thread.comm)) }
        }
        report.checked = kthreads.count
        return report
    }

    private func findings(for thread: LiveKthread) -> [KthreadFinding] {
        var found: [KthreadFinding] = []
        if let frame = thread.stack.first(where: { frame in reachabilities.contains { $0.isTarget(named: frame.baseFunction) } }) {
            found.append(KthreadFinding(pid: thread.pid, comm: thread.comm, entry: thread.entry,
                                        reason: .asleepInPatchedFunction, path: [], frame: frame))
        }
        if !thread.converted, let entry = thread.entry,
           let path = reachabilities.compactMap({ $0.shortestPath(fromFunctionNamed: entry) }).min(by: { $0.count < $1.count }) {
            found.append(KthreadFinding(pid: thread.pid, comm: thread.comm, entry: entry,
                                        reason: .reachesPatchedFunction, path: path.map(\.ref), frame: nil))
        }
        return found
    }
}

/// One kthread the patch would endanger.
public struct KthreadFinding: Equatable, Codable, Sendable, CustomStringConvertible {
    public enum Reason: String, Codable, Sendable {
        /// An unconverted kthread's thread function reaches a patched function.
        case reachesPatchedFunction
        /// A patched function is on the kthread's stack now.
        case asleepInPatchedFunction
    }

    public var pid: Int
    public var comm: String
    public var entry: String?
    public var reason: Reason
    /// `entry -> ... -> patched function` for `reachesPatchedFunction`.
    public var path: [FunctionRef]
    /// The stack frame in a patched function, for `asleepInPatchedFunction`.
    public var frame: StackFrame?
    /// The override that allowed it, nil when it refuses the patch.
    public var allowedBy: String?

    public var description: String {
        let who = "kthread \(pid) (\(comm)), entry \(entry ?? "unknown")"
        let text: String
        switch reason {
        case .reachesPatchedFunction:
            text = "\(who) reaches a patched function: \(path.map(\.name).joined(separator: " -> ")). "
                + "It is not a workqueue or kthread worker, so it switches to the patch only when no patched "
                + "function is on its stack and could run old and new code across iterations."
        case .asleepInPatchedFunction:
            text = "\(who) is asleep in patched function \(frame?.description ?? "?") now; the transition would "
                + "stall until it leaves it."
        }
        if let allowedBy { return "\(text) Allowed by \(allowedBy)." }
        return "\(text) Stop that kthread (or unload its module) before applying, or pass --allow-kthread \(comm) to accept the risk."
    }
}

public struct KthreadSafetyReport: Equatable, Codable, Sendable {
    public struct Unchecked: Equatable, Codable, Sendable {
        public var pid: Int
        public var comm: String
    }

    /// Findings that refuse the patch.
    public var refusals: [KthreadFinding] = []
    /// Findings an override allowed, reported so the user sees what was accepted.
    public var allowed: [KthreadFinding] = []
    /// Kthreads whose thread function /proc did not show (only the asleep check applied to them).
    public var unknownEntry: [Unchecked] = []
    public var checked = 0
    /// What the analysis cannot see, to be printed with every result.
    public var limitation = KthreadSafetyReport.limitationText

    public var safe: Bool { refusals.isEmpty }

    public static let limitationText = "The call graph is built from DWARF direct calls, tail calls and inlining; "
        + "it cannot see calls through function pointers (ops tables, callbacks, smpboot_thread_fn's thread_fn), "
        + "so a kthread reaching a patched function only through a pointer is not detected."
}
