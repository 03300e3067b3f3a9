import ArgumentParser
import KernelRuntime

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when every patch installed for the running kernel is loaded, enabled and fully switched.",
        discussion: "What a fleet's monitoring runs. Exit 9: an installed patch is not in the kernel (or is loaded "
            + "but disabled); exit 10: all are loaded but a transition is still running; exit 1: the store or "
            + "the kernel's livepatch state cannot be read. Patches installed before the last cumulative one "
            + "count as superseded, not missing. Exit codes: docs/CLI.md.")

    @OptionGroup var state: StateDirOption
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let release = RunningKernelIdentity.current().release
        let store = state.store
        let result: InstalledPatchCheck
        do {
            let installed = try store.installed(release: release)
            // No livepatch core: nothing can be loaded, so every installed patch is missing.
            var loaded: [LivepatchPatch] = []
            do { loaded = try LivepatchSysfs().patches() } catch LivepatchSysfsError.noLivepatchSupport {}
            result = InstalledPatchCheck.evaluate(release: release, stateDir: store.root, installed: installed, loaded: loaded)
        } catch {
            throw fail(error, code: .failure, json: json)
        }
        let code: KpatchctlExit = switch result.verdict {
        case .live: .success
        case .notLoaded: .notLive
        case .inTransition: .inTransition
        }
        if json {
            printJSON(result)
        } else {
            let counted = result.patches.filter { $0.state != .superseded }
            switch result.verdict {
            case .live where counted.isEmpty: print("OK: no patch installed for \(release)")
            case .live: print("OK: \(counted.count) patch(es) live on \(release)")
            case .notLoaded, .inTransition:
                print("NOT OK: \(counted.filter { $0.state != .live }.count) of \(counted.count) installed patch(es) not live on \(release)")
            }
            for entry in result.patches {
                let cves = entry.cves.isEmpty ? "" : " (\(entry.cves.joined(separator: ", ")))"
                print("  #\(entry.sequence) \(entry.name): \(entry.state.rawValue)\(cves)\(entry.reason.map { ": \($0)" } ?? "")")
            }
            for name in result.notInstalled { print("  \(name): loaded, not installed for \(release)") }
        }
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
