import ArgumentParser
import PatchModel
import KthreadSafety
import KernelRuntime

/// What apply predicts before loading: the kthread verdicts and the tasks that
/// would hold up the transition.
struct ApplyAssessment: Encodable {
    let kthreadSafety: KthreadSafetyReport
    let stallPrediction: StallPrediction

    /// The text lines beside the verdict: what an override allowed, kthreads that
    /// reach patched code without a hazard, kthreads not fully checked, tasks the
    /// transition would wait for.
    var warnings: [String] {
        var lines = kthreadSafety.allowed.map { "allowed: " + $0.description }
        lines += kthreadSafety.unanalysed.filter { $0.allowedBy != nil }.map { "allowed: " + $0.description }
        lines += Self.noteLines(kthreadSafety.notes)
        lines += kthreadSafety.unknownEntry.map { "warning: " + $0.description }
        lines += stallPrediction.tasks.map { "stall predicted: " + $0.description }
        if stallPrediction.unreadableStacks > 0 {
            lines.append("note: \(stallPrediction.unreadableStacks) task stack(s) unreadable (not root): no stall prediction for them")
        }
        return lines
    }

    /// Notes grouped by the patched function they reach: one explanation, then a line per kthread.
    private static func noteLines(_ notes: [KthreadFinding]) -> [String] {
        let byFunction = Dictionary(grouping: notes) { $0.path.last?.name ?? "?" }
        return byFunction.keys.sorted().flatMap { function -> [String] in
            let group = byFunction[function]!
            return ["note: \(function): not refused for the \(group.count) unconverted kthread(s) that can still reach it from "
                    + "other files: no value can come back from it to their loops, since on the way the value stops at the "
                    + "function named below (it hands nothing back: it \(FunctionInterface.passesNothingBack), or keeps nothing "
                    + "of what it called hands back), and their thread functions read no data it writes; the data it changes is "
                    + "shared with every task, and every task runs old and new code on it during the transition:"]
                + group.map { note in
                    "  kthread \(note.pid) (\(note.comm)), entry \(note.entry ?? "?"): " + note.path.map(\.name).joined(separator: " -> ")
                        + " (nothing comes back through \(note.nothingComesBackThrough ?? function))"
                }
        }
    }

    /// apply --check: what `--kthread-rule strict` would refuse on top of the default rule.
    var strictLines: [String] {
        guard !kthreadSafety.strictWouldRefuse.isEmpty else {
            return kthreadSafety.rule == .strict ? [] : ["strict: --kthread-rule strict would refuse nothing more"]
        }
        return ["strict: --kthread-rule strict would also refuse \(kthreadSafety.strictWouldRefuse.count) kthread(s) that can still reach a replaced function:"]
            + kthreadSafety.strictWouldRefuse.map { "  kthread \($0.pid) (\($0.comm)), entry \($0.entry ?? "?"): " + $0.path.map(\.name).joined(separator: " -> ") }
    }

    /// apply: the warnings on stderr, before loading.
    func printWarnings() { warnings.forEach(printError) }
}

/// `apply --json` on success or timeout: the controller report plus the assessment.
struct AppliedReport: Encodable {
    let report: ControllerReport
    let assessment: ApplyAssessment?

    private enum Keys: String, CodingKey { case kthreadSafety, stallPrediction }

    func encode(to encoder: any Encoder) throws {
        try report.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encodeIfPresent(assessment?.kthreadSafety, forKey: .kthreadSafety)
        try container.encodeIfPresent(assessment?.stallPrediction, forKey: .stallPrediction)
    }
}

/// `apply --check`: every preflight check and the stall prediction, nothing loaded.
struct ApplyCheck {
    enum Verdict: String, Encodable {
        /// Nothing refuses the patch and no task is in a replaced function now.
        case clean
        /// A preflight check (kthread safety included) would refuse it.
        case refused
        /// It would load, but the transition would wait for the listed tasks.
        case stallPredicted
    }

    struct Report: Encodable {
        let module: String
        let verdict: Verdict
        let exitCode: Int32
        let failures: [PreflightFailure]
        let kthreadSafety: KthreadSafetyReport?
        let stallPrediction: StallPrediction?
    }

    let module: String
    let json: Bool

    func run(preflight: Preflight, assessment: ApplyAssessment?) throws {
        let info: ModuleInfo
        do { info = try KernelModuleFile.forLoading(path: module) } catch let e as ModuleInfoError {
            throw fail(.badModule(e), json: json)
        }
        let failures = preflight.run(PreflightContext(modulePath: module, module: info))
        let verdict: Verdict = !failures.isEmpty ? .refused
            : assessment?.stallPrediction.clean == false ? .stallPredicted : .clean
        let code: KpatchctlExit = switch verdict {
            case .clean: .success
            case .refused: .refused
            case .stallPredicted: .stallPredicted
        }
        if json {
            printJSON(Report(module: module, verdict: verdict, exitCode: code.rawValue, failures: failures,
                             kthreadSafety: assessment?.kthreadSafety, stallPrediction: assessment?.stallPrediction))
        } else {
            for failure in failures { print("refused: \(failure)") }
            for line in assessment?.warnings ?? ["note: no kpatchctl metadata: kthread safety and stall prediction not checked"] {
                print(line)
            }
            assessment?.strictLines.forEach { print($0) }
            let checked = preflight.checks.map(\.name).joined(separator: ", ")
            switch verdict {
            case .clean: print("check: \(module) would apply (checks: \(checked)); no task is in a replaced function now; nothing loaded")
            case .refused: print("check: \(module) would be refused (\(failures.count) check(s) failed); nothing loaded")
            case .stallPredicted:
                print("check: \(module) passes every check, but the transition would wait for "
                      + "\(assessment?.stallPrediction.tasks.count ?? 0) task(s) in replaced functions; nothing loaded")
            }
        }
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
