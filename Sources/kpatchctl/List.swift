import ArgumentParser
import PatchModel
import KernelRuntime

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the loaded livepatches: state, patched objects and functions (--installed: the install store).")

    @Flag(help: "List the installed patches per kernel release, and whether each is loaded now.") var installed = false
    @Flag(help: "List each CVE fixed live now (its patch enabled, every task switched), with the patch that fixes it.")
    var cves = false
    @OptionGroup var state: StateDirOption
    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        let patches: [LivepatchPatch]
        /// What apply recorded about the listed patches (cumulative, replaced, when).
        let applied: [AppliedPatch]
    }

    func run() throws {
        if installed { return try listInstalled() }
        let patches: [LivepatchPatch]
        do { patches = try LivepatchSysfs().patches() } catch {
            throw fail(.sysfs(error), json: json)
        }
        let names = Set(patches.map(\.name))
        let applied = AppliedPatchLog().all().filter { names.contains($0.name) }
        if cves { return listCVEs(FixedCVEs.collect(patches: patches, applied: applied)) }
        if json { return printJSON(Report(patches: patches, applied: applied)) }
        if patches.isEmpty { return print("no livepatch loaded") }
        for patch in patches {
            let state = patch.enabled ? "enabled" : "disabled"
            let transition = patch.direction.map { ", in transition (\($0.rawValue))" } ?? ""
            print("\(patch.name): \(state)\(transition)\(patch.replace == true ? ", replace (cumulative)" : "")")
            if let record = applied.first(where: { $0.name == patch.name }) {
                print("  " + describe(record))
                if let about = record.operations?.description { print("  " + about.split(separator: "\n").joined(separator: "\n  ")) }
            }
            for object in patch.objects {
                let functions = object.functions.map { "\($0.name),\($0.sympos)" }.joined(separator: " ")
                print("  \(object.name) (\(object.patched ? "patched" : "not loaded")): \(functions)")
            }
        }
    }

    private func listCVEs(_ fixed: FixedCVEs) {
        if json { return printJSON(fixed) }
        if fixed.cves.isEmpty { print("no CVE is fixed live") }
        for entry in fixed.cves { print("\(entry.cve)  \(entry.patch)\(entry.description.map { "  \($0)" } ?? "")") }
        for entry in fixed.pending { print("not live yet: \(entry.cves.joined(separator: ", ")) (\(entry.patch): \(entry.why))") }
    }

    struct InstalledRelease: Encodable {
        struct Patch: Encodable {
            let patch: InstalledPatch
            let loaded: Bool
            func encode(to encoder: Encoder) throws {
                try patch.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(loaded, forKey: .loaded)
            }
            enum Key: String, CodingKey { case loaded }
        }
        let release: String
        let running: Bool
        let patches: [Patch]
    }

    struct InstalledReport: Encodable {
        let stateDir: String
        let releases: [InstalledRelease]
    }

    /// Loaded now means: the running release, and the kernel has a livepatch of that name.
    private func listInstalled() throws {
        let store = state.store
        let running = RunningKernelIdentity.current().release
        let report: InstalledReport
        do {
            // No livepatch core: nothing is loaded. Any other error must not show loaded patches as not loaded.
            var loaded: Set<String> = []
            do { loaded = Set(try LivepatchSysfs().patchNames()) } catch LivepatchSysfsError.noLivepatchSupport {}
            report = InstalledReport(stateDir: store.root, releases: try store.releases().map { release in
                InstalledRelease(release: release, running: release == running, patches: try store.installed(release: release).map {
                    .init(patch: $0, loaded: release == running && loaded.contains($0.name))
                })
            })
        } catch {
            throw fail(error, code: .failure, json: json)
        }
        if json { return printJSON(report) }
        let releases = report.releases.filter { !$0.patches.isEmpty }
        if releases.isEmpty { return print("no patch installed in \(store.root)") }
        for release in releases {
            print("\(release.release)\(release.running ? " (running)" : ""):")
            for entry in release.patches {
                let state = release.running ? (entry.loaded ? "loaded" : "not loaded") : "other release"
                let cves = entry.patch.operations.map { $0.cves.isEmpty ? "" : "; fixes \($0.cves.joined(separator: ", "))" } ?? ""
                print("  #\(entry.patch.sequence) \(entry.patch.name): \(state); \(entry.patch.functions.joined(separator: " "))\(cves)")
            }
        }
    }
}
