import Foundation
import PatchCore

func printJSON<T: Encodable>(_ value: T) {
    print((try? JSONCoding.string(value)) ?? #"{"error":"cannot encode the report"}"#)
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func formatSeconds(_ s: Double) -> String {
    s < 1 ? String(format: "%.0f ms", s * 1000) : String(format: "%.1f s", s)
}

/// One line per task that blocks a transition: who, and the patched functions on its stack.
func describe(_ blocker: BlockingTask) -> String {
    let t = blocker.task
    let kind = t.isKthread ? "kthread" : "user"
    let reason = blocker.patchedFunctionsOnStack.isEmpty
        ? (t.isKthread ? "no patched function on its stack (running, or stack check pending)"
                       : "has not returned to user mode yet")
        : "on its stack: \(blocker.patchedFunctionsOnStack.joined(separator: ", "))"
    return "pid \(t.pid) tid \(t.tid) \(t.comm) (\(kind), universe \(t.patchState)): \(reason)"
}

func describeCounts(_ counts: [String: Int]) -> String {
    let order = SwitchPath.allCases.map(\.rawValue)
    let parts = order.compactMap { path in counts[path].map { "\($0) \(path)" } }
    return parts.isEmpty ? "none" : parts.joined(separator: ", ")
}

/// Prints the live count when it changes (or once a second), for apply and revert.
final class ProgressPrinter {
    private var last: (Int, Int)?
    private var lastTime = -1.0
    private let enabled: Bool

    init(enabled: Bool) { self.enabled = enabled }

    func callAsFunction(_ p: TransitionProgress) {
        guard enabled else { return }
        let counts = (p.migrated, p.total)
        guard last.map({ $0 != counts }) ?? true || p.elapsed - lastTime >= 1 else { return }
        last = counts
        lastTime = p.elapsed
        print("\(p.direction.rawValue) \(p.patch): \(p.migrated)/\(p.total) tasks migrated (\(formatSeconds(p.elapsed)))")
        fflush(stdout)
    }
}

/// The end of apply/revert in text.
func render(_ report: ControllerReport) {
    let r = report
    if !r.blockers.isEmpty {
        print("timed out after \(formatSeconds(r.transitionSeconds)): \(r.blockers.count) task(s) not migrated:")
        for b in r.blockers { print("  " + describe(b)) }
    }
    let switches = "\(r.record.switches.count) switched: \(describeCounts(r.record.countsByPath)) (\(r.record.tracking))"
    switch (r.direction, r.outcome) {
    case (.patching, .completed):
        print("patched: \(r.patch) is enabled; every task migrated in \(formatSeconds(r.transitionSeconds)); \(switches)")
    case (.unpatching, .completed):
        print("reverted: \(r.patch) disabled in \(formatSeconds(r.transitionSeconds)), module unloaded; \(switches)")
    case (.patching, .reversed):
        print("reversed\(r.reverseSeconds.map { " in " + formatSeconds($0) } ?? ""): \(r.patch) "
              + "\(r.unloaded ? "unloaded" : "not unloaded"); the system is unpatched")
    case (.unpatching, .reversed):
        print("re-enabled\(r.reverseSeconds.map { " in " + formatSeconds($0) } ?? ""): \(r.patch) stays loaded; "
              + "the system is fully patched")
    case (_, .stalled):
        print("stalled: \(r.patch) is still in transition (\(r.direction.rawValue)); see kpatchctl status, "
              + "then kpatchctl revert \(r.patch) or wait")
    }
}
