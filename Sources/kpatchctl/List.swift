import ArgumentParser
import PatchCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the loaded livepatches: state, patched objects and functions.")

    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        let patches: [LivepatchPatch]
        /// What apply recorded about the listed patches (cumulative, replaced, when).
        let applied: [AppliedPatch]
    }

    func run() throws {
        let patches: [LivepatchPatch]
        do { patches = try LivepatchSysfs().patches() } catch {
            throw fail(.sysfs(error), json: json)
        }
        let names = Set(patches.map(\.name))
        let applied = AppliedPatchLog().all().filter { names.contains($0.name) }
        if json { return printJSON(Report(patches: patches, applied: applied)) }
        if patches.isEmpty { return print("no livepatch loaded") }
        for patch in patches {
            let state = patch.enabled ? "enabled" : "disabled"
            let transition = patch.direction.map { ", in transition (\($0.rawValue))" } ?? ""
            print("\(patch.name): \(state)\(transition)")
            if let record = applied.first(where: { $0.name == patch.name }) { print("  " + describe(record)) }
            for object in patch.objects {
                let functions = object.functions.map { "\($0.name),\($0.sympos)" }.joined(separator: " ")
                print("  \(object.name) (\(object.patched ? "patched" : "not loaded")): \(functions)")
            }
        }
    }
}
