import Interruption
import ArgumentParser
import PatchModel
import KthreadSafety
import KernelRuntime

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a livepatch module and follow every task to the new code.",
        discussion: "Refuses before loading anything when a preflight check fails. On timeout the transition "
            + "is reversed and the module unloaded, so the system ends fully patched or fully unpatched. "
            + "Exit codes: docs/CLI.md.")

    @Argument(help: "The livepatch module (.ko).") var module: String
    @Option(help: "Seconds to wait for every task to migrate.") var timeout: Double = 60
    @Flag(help: "On timeout, leave the transition running instead of reversing it.") var noRevert = false
    @Option(name: .customLong("allow-kthread"), help: ArgumentHelp(
        "Apply even though kthread COMM reaches, or sleeps in, a replaced function (repeatable).", valueName: "COMM"))
    var allowKthread: [String] = []
    @Flag(name: .customLong("allow-all-kthreads"), help: "Apply whatever kthreads reach the patched functions.")
    var allowAllKthreads = false
    @Option(name: .customLong("kthread-rule"), help: ArgumentHelp(
        "default: refuse what can hand a value back to an unconverted kthread's loop; strict: refuse every replaced "
        + "function an unconverted kthread can reach (docs/KTHREAD-SAFETY.md).", valueName: "default|strict"))
    var kthreadRule: KthreadRule = .default
    @Flag(name: .customLong("allow-unanalysed"), help: "Apply a patch with an object the build could not analyse for kthreads (no DWARF); only resident frames are checked for it.")
    var allowUnanalysed = false
    @Flag(help: "Load a livepatch module that kpatchctl did not build (no identity or kthread checks).")
    var foreign = false
    @Flag(help: "Do not register tracefs kprobe events to record how each task switched; poll /proc only.")
    var noTrace = false
    @Flag(help: ArgumentHelp("Run every preflight check and predict which tasks would stall the transition; load nothing. "
        + "Exit 0 clean, 2 refused, 6 stall predicted (docs/CLI.md)."))
    var check = false
    @Flag(help: "Print JSON.") var json = false

    /// Every check apply runs before loading anything: the runtime's own (privilege,
    /// livepatch support and flag, name free, no transition running), the patch's
    /// identity (release, vermagic, build ids), system states and kthread safety.
    func preflight(kthreads: KthreadSafetyReport?) -> Preflight {
        Preflight.forPatch(allowForeign: foreign, kthreads: kthreads)
    }

    /// The patch's replaced functions and kthread analysis against the live
    /// kthreads, and the tasks in a replaced function now; nil for a file without
    /// kpatchctl metadata (the identity check refuses it unless --foreign).
    func assess(_ metadata: PatchMetadata?) throws -> ApplyAssessment? {
        guard let meta = metadata else { return nil }
        let assessment = ApplyAssessment(
            kthreadSafety: try KthreadSafetyReport.evaluate(meta, kthreads: ProcKthreads.read(),
                                                            allowComms: Set(allowKthread), allowAll: allowAllKthreads,
                                                            rule: kthreadRule, allowUnanalysed: allowUnanalysed),
            stallPrediction: StallPrediction.predict(replaced: meta.functions))
        return assessment
    }

    func run() throws {
        Interruption.install()
        let metadata = try? KernelModuleFile(path: module).patchMetadata()
        let assessment: ApplyAssessment?
        do { assessment = try assess(metadata) } catch { throw fail(error, code: .refused, json: json) }
        if check { return try ApplyCheck(module: module, json: json).run(preflight: preflight(kthreads: assessment?.kthreadSafety),
                                                                       assessment: assessment) }
        let kthreads = assessment?.kthreadSafety
        let options = TransitionOptions(timeout: max(0, timeout), reverseOnTimeout: !noRevert)
        let printer = EventPrinter(enabled: !json)
        let report: ControllerReport
        do {
            var controller = LivepatchController()
            controller.useTracefs = !noTrace
            // The assessment's warnings come once every check has passed: before, a refusal is the one thing to read.
            report = try controller.apply(modulePath: module, preflight: preflight(kthreads: kthreads), options: options,
                                          events: { event in
                                              if case .checked = event, !json { assessment?.printWarnings() }
                                              printer(event)
                                          })
        } catch let error as ControllerError {
            throw fail(error, json: json, kthreadSafety: kthreads)
        }
        // Said once the patch is in: before, a refusal is the one thing to read.
        if let meta = metadata {
            for unchecked in PatchIdentityCheck.check(meta, against: .current()).unchecked { printError("note: not checked: " + unchecked) }
        }
        if let taint = try? ModuleSignaturePolicy.taintNote(for: module) { printError("note: " + taint) }
        if json {
            printJSON(AppliedReport(report: report, assessment: assessment))
        } else {
            render(report)
        }
        let code = KpatchctlExit.of(report)
        if code != .success { throw ExitCode(code.rawValue) }
    }
}

extension KthreadRule: ExpressibleByArgument {}
