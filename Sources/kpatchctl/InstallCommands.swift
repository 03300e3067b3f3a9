import Interruption
import ArgumentParser
import PatchModel
import KernelRuntime

/// Options shared by the commands that use the install store.
struct StateDirOption: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "The install store (default: $KPATCHCTL_STATE_DIR, else /var/lib/kpatchctl).", valueName: "dir"))
    var stateDir: String?

    var store: PatchStore { PatchStore(option: stateDir) }
}

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a patch module for its kernel release, so load-installed (and the boot unit) applies it.",
        discussion: "The patch is checked against its target release (and, for the running release, against the "
            + "running kernel: vermagic, vmlinux build id, loaded targets) and copied to STATE-DIR/RELEASE/ with "
            + "its metadata. It is not loaded: run kpatchctl apply or kpatchctl load-installed for that.")

    @Argument(help: "The livepatch module (.ko) built by kpatchctl build.") var module: String
    @Option(help: "The kernel release to install it for (default: the running kernel's).") var kernel: String?
    @OptionGroup var state: StateDirOption
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let running = RunningKernelIdentity.current()
        let release = kernel ?? running.release
        let patch: InstalledPatch
        do {
            patch = try state.store.install(path: module, release: release, system: release == running.release ? running : nil)
        } catch {
            throw fail(error, code: .refused, json: json)
        }
        if json { return printJSON(patch) }
        if release == running.release, let meta = try? KernelModuleFile(path: state.store.modulePath(patch)).patchMetadata() {
            for check in PatchIdentityCheck.check(meta, against: running).unchecked { printError("note: not checked: " + check) }
        }
        print("installed \(patch.name) for \(release) (#\(patch.sequence)) in \(state.store.directory(release))")
        print("not loaded by install: kpatchctl load-installed applies it (the boot unit runs that)")
    }
}

struct Uninstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove an installed patch from the store (a loaded patch stays loaded: kpatchctl revert NAME).")

    @Argument(help: "The patch's name (kpatchctl list --installed).") var name: String
    @Option(help: "The kernel release it is installed for (default: the running kernel's).") var kernel: String?
    @OptionGroup var state: StateDirOption
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let release = kernel ?? RunningKernelIdentity.current().release
        let patch: InstalledPatch
        do { patch = try state.store.uninstall(name: name, release: release) } catch {
            throw fail(error, code: .refused, json: json)
        }
        if json { return printJSON(patch) }
        print("uninstalled \(patch.name) for \(release)")
        if release == RunningKernelIdentity.current().release, LivepatchSysfs().isAvailable {
            do {
                if try LivepatchSysfs().patch(named: patch.name) != nil {
                    print("\(patch.name) is still loaded: kpatchctl revert \(patch.name) to remove it from the kernel")
                }
            } catch {
                printError("warning: cannot tell whether \(patch.name) is still loaded (\(error)): see kpatchctl list")
            }
        }
    }
}

struct LoadInstalledCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-installed",
        abstract: "Apply, in install order, every installed patch for the running kernel that is not loaded.",
        discussion: "Idempotent: a patch already loaded is left alone, so it can run again at any time. This is "
            + "what kpatchctl.service runs early in boot. Each patch goes through apply's preflight checks; one "
            + "that fails is reported and the others are still applied. Exit codes: docs/CLI.md.")

    @OptionGroup var state: StateDirOption
    @Option(help: "Seconds to wait for each patch's transition.") var timeout: Double = 60
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let release = RunningKernelIdentity.current().release
        let printer = EventPrinter(enabled: !json)
        Interruption.install()
        let loader = ControllerPatchLoader(options: TransitionOptions(timeout: max(0, timeout)), events: { printer($0) })
        let report: LoadInstalledReport
        do {
            report = try LoadInstalled(store: state.store, release: release).run(loader: loader, willApply: { patch in
                if !json { print("applying \(patch.name) (#\(patch.sequence))") }
            })
        } catch {
            throw fail(error, code: .failure, json: json)
        }
        if json {
            printJSON(report)
        } else {
            for entry in report.patches {
                switch (entry.action, entry.error) {
                case (.alreadyLoaded, _): print("\(entry.name): already loaded")
                case (.superseded, _): print("\(entry.name): superseded by a later cumulative patch, not applied")
                case (.apply, nil): print("\(entry.name): applied")
                case (.apply, let error?): print("\(entry.name): not applied: \(error)")
                }
                for problem in entry.problems ?? [] { print("  error: \(problem)") }
            }
            print("load-installed \(release): \(report.applied.count) applied, "
                  + "\(report.patches.filter { $0.action == .alreadyLoaded }.count) already loaded, \(report.failed.count) failed")
        }
        if !report.failed.isEmpty { throw ExitCode(KpatchctlExit.failure.rawValue) }
    }
}
