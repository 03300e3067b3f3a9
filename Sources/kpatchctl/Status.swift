import ArgumentParser
import FoundationEssentials
import Glibc
import PatchModel
import KernelRuntime

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every loaded livepatch, the tasks a running transition waits for, and the last transition's log.")

    @Flag(help: "Print JSON (with --watch: one object per line).") var json = false
    @Flag(help: "Repeat every second until interrupted.") var watch = false
    @Option(help: ArgumentHelp(
        "Write the state as a node-exporter textfile instead of printing it (atomically: a temporary file renamed over FILE).",
        valueName: "file"))
    var prometheus: String?
    @OptionGroup var state: StateDirOption

    func run() throws {
        repeat {
            let report: StatusReport
            do { report = try StatusReport.collect() } catch { throw fail(.sysfs(error), json: json) }
            if let prometheus {
                try writeTextfile(report, to: prometheus)
            } else if json {
                printJSON(report)
            } else {
                if watch { print("\u{1b}[H\u{1b}[2J", terminator: "") }
                render(report)
            }
            fflush(nil)
            if watch { KernelFile.sleep(seconds: 1) }
        } while watch
    }

    /// Installed-but-not-loaded counts the running release's installed patches
    /// that the kernel does not have.
    private func writeTextfile(_ report: StatusReport, to path: String) throws {
        do {
            let loaded = Set(report.patches.map(\.name))
            let installed = try state.store.installed(release: RunningKernelIdentity.current().release)
            let text = PrometheusTextfile.render(report, installedNotLoaded: installed.filter { !loaded.contains($0.name) }.count)
            try StateFile.replace(path, with: text)
        } catch {
            throw fail(error, code: .failure, json: json)
        }
    }

    private func render(_ report: StatusReport) {
        let unregistered = report.unregisteredModules ?? []
        if report.patches.isEmpty && unregistered.isEmpty { print("no livepatch loaded") }
        for module in unregistered {
            print("\(module.name): module loaded, no patch in /sys/kernel/livepatch (module \(module.state)): nothing of it is patched")
            if module.state == "live" { print("  kpatchctl revert \(module.name) unloads it") }
        }
        for patch in report.patches {
            print("\(patch.name): \(patch.enabled ? "enabled" : "disabled")\(patch.replace == true ? ", replace (cumulative)" : "")")
            if let applied = patch.applied { print("  " + describe(applied)) }
            for object in patch.objects {
                let functions = object.functions.map(\.name).joined(separator: ", ")
                print("  \(object.name) (\(object.patched ? "patched" : "not loaded")): \(functions)")
            }
            guard let running = patch.running else { continue }
            let age = running.ageSeconds.map { ", running for \(formatSeconds($0))" } ?? ""
            print("  transition: \(running.direction.rawValue)\(age), \(running.migrated)/\(running.total) tasks migrated")
            if let lock = report.lock {
                print(lock.running ? "  followed by \(lock.holder)"
                                   : "  started by \(lock.holder), which died: kpatchctl revert \(patch.name) ends it")
            } else {
                print("  no kpatchctl follows it: kpatchctl revert \(patch.name) ends it")
            }
            if running.blockers.isEmpty {
                print("  no task blocks it (the kernel retries once a second)")
            } else {
                print("  not migrated (\(running.blockers.count)):")
                for blocker in running.blockers { print("    " + describe(blocker)) }
            }
        }
        guard let last = report.lastTransition else { return }
        let duration = last.seconds.map { " in \(formatSeconds($0))" } ?? ""
        print("last transition: \(last.patch) \(last.direction.rawValue) \(last.outcome.rawValue)\(duration) "
              + "(\(last.tracking)): \(last.switched) switched: \(describeCounts(last.countsByPath))")
        for s in last.slowest {
            let how = s.traced ? s.path.rawValue : "\(s.path.rawValue), inferred"
            print("  \(formatSeconds(s.seconds)): pid \(s.pid) tid \(s.tid) \(s.comm) "
                  + "(\(s.kthread ? "kthread" : "user"), \(how))")
        }
        for b in last.blockers { print("  blocked: " + describe(b)) }
    }
}
