import ArgumentParser
import PatchCore

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
        "Apply even though the unconverted kthread COMM reaches a patched function (repeatable).", valueName: "COMM"))
    var allowKthread: [String] = []
    @Flag(name: .customLong("allow-all-kthreads"), help: "Apply whatever kthreads reach the patched functions.")
    var allowAllKthreads = false
    @Flag(help: "Load a livepatch module that kpatchctl did not build (no identity or kthread checks).")
    var foreign = false
    @Flag(help: "Print JSON.") var json = false

    /// Every check apply runs before loading anything: the runtime's own (privilege,
    /// livepatch support and flag, name free, no transition running), the patch's
    /// identity (release, vermagic, build ids), system states and kthread safety.
    func preflight(kthreads: KthreadSafetyReport?) -> Preflight {
        var checks: [any PreflightCheck] = [PatchIdentityPreflight(allowForeign: foreign), SystemStatePreflight()]
        if let kthreads { checks.append(KthreadSafetyPreflight(report: kthreads)) }
        return Preflight.runtime.appending(checks)
    }

    /// The kthread analysis stored in the patch against the live kthreads; nil for
    /// a patch without one (or a file the controller will refuse anyway).
    func kthreadReport() throws -> KthreadSafetyReport? {
        guard let meta = try? KernelModuleFile(path: module).patchMetadata() else { return nil }
        let report = try KthreadSafetyReport.evaluate(meta, kthreads: ProcKthreads.read(),
                                                      allowComms: Set(allowKthread), allowAll: allowAllKthreads)
        if !json {
            if report == nil { printError("note: the patch carries no kthread analysis: kthread safety not checked") }
            for finding in report?.allowed ?? [] { printError("allowed: " + finding.description) }
        }
        return report
    }

    func run() throws {
        Interruption.install()
        let kthreads: KthreadSafetyReport?
        do { kthreads = try kthreadReport() } catch { throw fail(error, code: .refused, json: json) }
        let options = TransitionOptions(timeout: max(0, timeout), reverseOnTimeout: !noRevert)
        let printer = EventPrinter(enabled: !json)
        let report: ControllerReport
        do {
            report = try LivepatchController().apply(modulePath: module, preflight: preflight(kthreads: kthreads), options: options,
                                                     events: { printer($0) })
        } catch let error as ControllerError {
            throw fail(error, json: json, kthreadSafety: kthreads)
        }
        // Said once the patch is in: before, a refusal is the one thing to read.
        if let meta = try? KernelModuleFile(path: module).patchMetadata() {
            for check in PatchIdentityCheck.check(meta, against: .current()).unchecked { printError("note: not checked: " + check) }
        }
        if json {
            printJSON(report)
        } else {
            render(report)
        }
        let code = KpatchctlExit.of(report.outcome)
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
