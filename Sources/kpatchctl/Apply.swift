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
    @Flag(help: "Print JSON.") var json = false

    /// Every check apply runs before loading anything: the runtime's own (privilege,
    /// livepatch support and flag, name free, no transition running); identity
    /// checks (release, vermagic, build id) are appended here.
    var preflight: Preflight { Preflight.runtime }

    func run() throws {
        let options = TransitionOptions(timeout: max(0, timeout), reverseOnTimeout: !noRevert)
        let printer = EventPrinter(enabled: !json)
        let report: ControllerReport
        do {
            report = try LivepatchController().apply(modulePath: module, preflight: preflight, options: options,
                                                     events: { printer($0) })
        } catch let error as ControllerError {
            throw fail(error, json: json)
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
