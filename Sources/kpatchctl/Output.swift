import FoundationEssentials
import Glibc
import PatchModel
import KernelRuntime

func printJSON<T: Encodable>(_ value: T) {
    print((try? JSONCoding.string(value)) ?? #"{"error":"cannot encode the report"}"#)
}

func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// `value` with `digits` decimals, as printf's %.Nf (String(format:) is not in FoundationEssentials).
func fixed(_ value: Double, _ digits: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.\(digits)f", $0) }
    return String(cString: buffer)
}

func formatSeconds(_ s: Double) -> String {
    s < 1 ? fixed(s * 1000, 0) + " ms" : fixed(s, 1) + " s"
}

/// One line per task that blocks a transition: who, and the patched functions on its stack.
func describe(_ blocker: BlockingTask) -> String {
    let t = blocker.task
    let kind = t.isKthread ? "kthread" : "user"
    let reason = blocker.patchedFunctionsOnStack.isEmpty
        ? (t.isKthread ? "no patched function on its stack (running, or stack check pending)"
                       : "has not returned to user mode yet")
        : "on its stack: \(blocker.patchedFunctionsOnStack.joined(separator: ", "))"
    let check = blocker.lastStackCheckReason.map { "; last stack check: \($0)" } ?? ""
    return "pid \(t.pid) tid \(t.tid) \(t.comm) (\(kind), universe \(t.patchState)): \(reason)\(check)"
}

/// What apply recorded about a loaded patch: when, cumulative, what it replaced.
func describe(_ applied: AppliedPatch) -> String {
    let when = Date(timeIntervalSince1970: applied.appliedAt)
    var text = "applied \(when)" + (applied.cumulative ? ", cumulative (--replace)" : "")
    if !applied.replaced.isEmpty { text += ", replaced \(applied.replaced.joined(separator: ", ")) at that time" }
    if !applied.states.isEmpty { text += ", states: " + applied.states.map(\.description).joined(separator: ", ") }
    if let cves = applied.operations?.cves, !cves.isEmpty { text += ", fixes " + cves.joined(separator: ", ") }
    return text
}

func describeCounts(_ counts: [String: Int]) -> String {
    let order = SwitchPath.allCases.map(\.rawValue)
    let parts = order.compactMap { path in counts[path].map { "\($0) \(path)" } }
    return parts.isEmpty ? "none" : parts.joined(separator: ", ")
}

/// Prints what apply and revert do as they go: the load, the live count (when it
/// changes, or once a second), the blockers at the deadline, the reversal.
final class EventPrinter {
    private var last: (Int, Int)?
    private var lastTime = -1.0
    private let enabled: Bool

    init(enabled: Bool) { self.enabled = enabled }

    func callAsFunction(_ event: ControllerEvent) {
        guard enabled else { return }
        switch event {
        case .checked:
            // What apply says then (the kthread notes and warnings) is its own business.
            return
        case .loaded(let patch, let seconds):
            print("loaded \(patch) in \(formatSeconds(seconds)) (finit_module); following the transition")
        case .disabled(let patch):
            print("disabled \(patch); following the transition")
        case .progress(let p):
            let counts = (p.migrated, p.total)
            guard last.map({ $0 != counts }) ?? true || p.elapsed - lastTime >= 1 else { return }
            last = counts
            lastTime = p.elapsed
            print("\(p.direction.rawValue) \(p.patch): \(p.migrated)/\(p.total) tasks migrated (\(formatSeconds(p.elapsed)))")
        case .timedOut(let blockers), .interrupted(let blockers):
            let why = { if case .interrupted = event { return "interrupted" } else { return "timed out" } }()
            print("\(why): \(blockers.count) task(s) not migrated:")
            for b in blockers { print("  " + describe(b)) }
        case .reversing(let patch):
            last = nil
            print("reversing the transition of \(patch)")
        case .reclaimedLock(let dead):
            print("note: \(dead) died holding the transition lock; taking it over")
        case .resumed(let patch, let running):
            print(running ? "\(patch) is already disabled and unpatching (a revert died): following the transition"
                          : "\(patch) is already unpatched but its module is loaded (a revert died): unloading it")
        }
        fflush(nil)
    }
}

/// The end of apply/revert in text.
func render(_ report: ControllerReport) {
    let r = report
    for warning in r.warnings { printError("warning: " + warning) }
    for problem in r.problems { printError("error: \(problem)") }
    let switches = "\(r.record.switches.count) switched: \(describeCounts(r.record.countsByPath)) (\(r.record.tracking))"
    switch (r.direction, r.outcome) {
    case (.patching, .completed):
        print("patched: \(r.patch) is enabled; every task migrated in \(formatSeconds(r.transitionSeconds)); \(switches)")
        if !r.replaced.isEmpty {
            let stayed = r.problems.isEmpty ? "their modules are unloaded" : "see the errors above for modules that stay loaded"
            print("replaced \(r.replaced.joined(separator: ", ")) in the same transition; \(stayed)")
        }
    case (.unpatching, .completed):
        print("reverted: \(r.patch) disabled in \(formatSeconds(r.transitionSeconds)), "
              + "\(r.unloaded ? "module unloaded" : "module NOT unloaded"); \(switches)")
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
