/// `list --cves`: the CVEs fixed live on this machine, each with its patch. A CVE
/// counts only when its patch is enabled and its transition finished; a patch
/// still switching (or disabled) is listed apart with why.
public struct FixedCVEs: Codable, Sendable {
    public struct Fixed: Codable, Sendable {
        public let cve: String
        public let patch: String
        public let description: String?
    }
    public struct Pending: Codable, Sendable {
        public let patch: String
        public let cves: [String]
        public let why: String
    }
    /// Sorted by CVE, then patch (two patches may name the same CVE).
    public let cves: [Fixed]
    public let pending: [Pending]

    /// The CVEs come from what apply recorded (/run/kpatchctl/patches.json): a patch
    /// kpatchctl did not apply has no record, so nothing is claimed for it.
    public static func collect(patches: [LivepatchPatch], applied: [AppliedPatch]) -> FixedCVEs {
        var fixed: [Fixed] = [], pending: [Pending] = []
        for patch in patches {
            guard let ops = applied.first(where: { $0.name == patch.name })?.operations, !ops.cves.isEmpty else { continue }
            if patch.enabled && !patch.transition {
                fixed += ops.cves.map { Fixed(cve: $0, patch: patch.name, description: ops.summary) }
            } else {
                pending.append(Pending(patch: patch.name, cves: ops.cves,
                                       why: patch.transition ? "its transition is still running" : "it is disabled"))
            }
        }
        return FixedCVEs(cves: fixed.sorted { ($0.cve, $0.patch) < ($1.cve, $1.patch) }, pending: pending)
    }
}
