import ArgumentParser
import PatchCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the loaded livepatches: state, patched objects and functions.")

    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable { let patches: [LivepatchPatch] }

    func run() throws {
        let patches: [LivepatchPatch]
        do { patches = try LivepatchSysfs().patches() } catch {
            throw fail(.sysfs(error), json: json)
        }
        if json { return printJSON(Report(patches: patches)) }
        if patches.isEmpty { return print("no livepatch loaded") }
        for patch in patches {
            let state = patch.enabled ? "enabled" : "disabled"
            let transition = patch.direction.map { ", in transition (\($0.rawValue))" } ?? ""
            print("\(patch.name): \(state)\(transition)")
            for object in patch.objects {
                let functions = object.functions.map { "\($0.name),\($0.sympos)" }.joined(separator: " ")
                print("  \(object.name) (\(object.patched ? "patched" : "not loaded")): \(functions)")
            }
        }
    }
}
