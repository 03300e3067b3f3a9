import PatchModel

/// The kernel's rule for system states (klp_is_patch_compatible,
/// Documentation/livepatch/system-state.rst), checked before loading so the
/// refusal names the state and both patches instead of a bare EINVAL:
/// a new patch must handle every state a running patch set up, at the same or a
/// newer version; a patch without that state is accepted only when it does not
/// replace the running one (the state stays with its owner).
public enum SystemStateRule {
    /// One reason per conflict; empty when the kernel would accept the patch.
    public static func conflicts(patch: String, states: [SystemState], replace: Bool,
                                 running: [AppliedPatch]) -> [String] {
        var reasons: [String] = []
        for other in running {
            for old in other.states {
                if let new = states.first(where: { $0.id == old.id }) {
                    if new.version < old.version {
                        reasons.append("state \(old.id): running patch \(other.name) set it up at version \(old.version), "
                            + "\(patch) handles version \(new.version) only; the kernel refuses to downgrade a system state")
                    }
                } else if replace {
                    reasons.append("state \(old.id): running patch \(other.name) set it up (version \(old.version)); "
                        + "\(patch) replaces it but does not declare that state, so nothing would handle it")
                }
            }
        }
        return reasons
    }
}

/// Refuses a patch the kernel would refuse for its system states, from the
/// states apply recorded for the running patches (/run/kpatchctl/patches.json).
public struct SystemStatePreflight: PreflightCheck {
    public let name = "system-state"
    public let applied: AppliedPatchLog

    public init(applied: AppliedPatchLog = AppliedPatchLog()) { self.applied = applied }

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        guard let meta = try? context.module.patchMetadata() else { return nil }
        let enabled = Set(((try? context.sysfs.patches()) ?? []).filter(\.enabled).map(\.name))
        let running = applied.all().filter { enabled.contains($0.name) }
        let reasons = SystemStateRule.conflicts(patch: meta.patchName, states: meta.states, replace: meta.replacesAll,
                                                running: running)
        guard !reasons.isEmpty else { return nil }
        return PreflightFailure(check: name, reason: reasons.joined(separator: "\n  "),
                                advice: "declare each state with KPATCH_STATE(id, version) at the running version or newer, "
                                    + "with code that takes it over (KPATCH_STATE_GET_PREV), or revert the running patch first")
    }
}
