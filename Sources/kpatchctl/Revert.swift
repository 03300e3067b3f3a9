import Interruption
import ArgumentParser
import PatchModel
import KernelRuntime

struct Revert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disable a livepatch, follow every task back to the old code, and unload it.",
        discussion: "On timeout the patch is re-enabled, so the system stays fully patched. Exit codes: docs/CLI.md.")

    @Argument(help: "The patch's name (kpatchctl list).") var name: String
    @Option(help: "Seconds to wait for every task to migrate back.") var timeout: Double = 60
    @Flag(help: "Do not register tracefs kprobe events to record how each task switched; poll /proc only.")
    var noTrace = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let printer = EventPrinter(enabled: !json)
        let report: ControllerReport
        Interruption.install()
        do {
            var controller = LivepatchController()
            controller.useTracefs = !noTrace
            report = try controller.revert(name: name, options: TransitionOptions(timeout: max(0, timeout)),
                                           events: { printer($0) })
        } catch let error as ControllerError {
            throw fail(error, json: json)
        }
        if json { printJSON(report) } else { render(report) }
        let code = KpatchctlExit.of(report)
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
