/// `status --prometheus FILE`: the livepatch state as a node-exporter textfile
/// (text exposition format 0.0.4): HELP and TYPE for every metric, base units
/// (seconds), one-hot gauges for enumerations.
public enum PrometheusTextfile {
    public static func render(_ status: StatusReport, installedNotLoaded: Int) -> String {
        var out: [String] = []
        func metric(_ name: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            out.append("# HELP \(name) \(help)")
            out.append("# TYPE \(name) gauge")
            for sample in samples {
                let labels = sample.labels.isEmpty ? ""
                    : "{" + sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
                out.append("\(name)\(labels) \(format(sample.value))")
            }
        }
        metric("kpatchctl_patches_loaded", "Livepatches registered with the kernel (/sys/kernel/livepatch).",
               [([], Double(status.patches.count))])
        metric("kpatchctl_patch_enabled", "Whether the livepatch is enabled (1) or disabled (0).",
               status.patches.map { ([("patch", $0.name)], $0.enabled ? 1 : 0) })
        metric("kpatchctl_patch_in_transition", "Whether the livepatch's transition is still running (1) or finished (0).",
               status.patches.map { ([("patch", $0.name)], $0.transition ? 1 : 0) })
        metric("kpatchctl_patch_info",
               "Always 1: what apply recorded about the livepatch (cves comma-separated, description's first line).",
               status.patches.compactMap { patch in
                   patch.applied?.operations.map { ops in
                       ([("patch", patch.name), ("cves", ops.cves.joined(separator: ",")), ("description", ops.summary ?? "")], 1)
                   }
               })
        metric("kpatchctl_cve_fixed",
               "A CVE fixed live: its livepatch is enabled and every task switched (1), or still switching (0).",
               status.patches.filter(\.enabled).flatMap { patch in
                   (patch.applied?.operations?.cves ?? []).map { ([("cve", $0), ("patch", patch.name)], patch.transition ? 0 : 1) }
               })
        let blocked = status.patches.compactMap(\.running).map(\.blockers.count).reduce(0, +)
        metric("kpatchctl_transition_stalled_tasks", "Tasks a running livepatch transition still waits for.",
               [([], Double(blocked))])
        metric("kpatchctl_installed_not_loaded_patches",
               "Patches installed for the running kernel (kpatchctl install) that are not loaded.",
               [([], Double(installedNotLoaded))])
        if let last = status.lastTransition {
            let labels = [("patch", last.patch), ("direction", last.direction.rawValue)]
            metric("kpatchctl_last_transition_duration_seconds", "Duration of the last finished livepatch transition.",
                   last.seconds.map { [(labels, $0)] } ?? [])
            metric("kpatchctl_last_transition_start_time_seconds", "Start of the last finished livepatch transition, seconds since the epoch.",
                   [(labels, last.startedAt)])
            let outcomes: [TransitionRecord.Outcome] = [.completed, .reversed, .stalled]
            metric("kpatchctl_last_transition_outcome",
                   "Outcome of the last finished livepatch transition: 1 for the outcome it had, 0 for the others.",
                   outcomes.map { (labels + [("outcome", $0.rawValue)], last.outcome == $0 ? 1 : 0) })
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
