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

    /// Fails closed: metadata, sysfs or the records that cannot be read refuse,
    /// naming what could not be read.
    public func check(_ context: PreflightContext) -> PreflightFailure? {
        let meta: PatchMetadata
        do { meta = try context.module.patchMetadata() } catch PatchMetadataError.noMetadataSection {
            // Another tool's livepatch (allowed with --foreign by the identity check): no states to compare.
            return nil
        } catch {
            return PreflightFailure(check: name, reason: "cannot read the system states of \(context.modulePath): \(error)",
                                    advice: "rebuild the patch with this kpatchctl")
        }
        return check(meta, sysfs: context.sysfs)
    }

    /// The check once the patch's metadata is read.
    func check(_ meta: PatchMetadata, sysfs: LivepatchSysfs) -> PreflightFailure? {
        let enabled: Set<String>
        do { enabled = Set(try sysfs.patches().filter(\.enabled).map(\.name)) } catch LivepatchSysfsError.noLivepatchSupport {
            return nil  // no livepatch core, no running patch: livepatch-support refuses
        } catch {
            return PreflightFailure(check: name, reason: "cannot read which livepatches are enabled: \(error)",
                                    advice: "check that \(sysfs.root) is readable (mounted sysfs, run as root), then apply again")
        }
        let records: [AppliedPatch]
        do { records = try applied.records() } catch {
            return PreflightFailure(check: name, reason: "cannot read the system states of the running patches from \(applied.path): \(error)",
                                    advice: "repair or remove \(applied.path) (apply writes it; removing it forgets the states "
                                        + "of the running patches, which the kernel still checks), then apply again")
        }
        let running = records.filter { enabled.contains($0.name) }
        let reasons = SystemStateRule.conflicts(patch: meta.patchName, states: meta.states, replace: meta.replacesAll,
                                                running: running)
        guard !reasons.isEmpty else { return nil }
        return PreflightFailure(check: name, reason: reasons.joined(separator: "\n  "),
                                advice: "declare each state with KPATCH_STATE(id, version) at the running version or newer, "
                                    + "with code that takes it over (KPATCH_STATE_GET_PREV), or revert the running patch first")
    }
}
