import PatchModel
import KthreadSafety

/// The checks `apply` adds to the runtime's preflight for patches built by
/// kpatchctl: the patch's metadata must be readable and match this system.
public struct PatchIdentityPreflight: PreflightCheck {
    public let name = "identity"
    /// Apply a livepatch module built by another tool (no metadata) anyway.
    public let allowForeign: Bool
    public let system: RunningKernelIdentity

    public init(allowForeign: Bool, system: RunningKernelIdentity = .current()) {
        self.allowForeign = allowForeign
        self.system = system
    }

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        let meta: PatchMetadata
        do {
            meta = try context.module.patchMetadata()
        } catch PatchMetadataError.noMetadataSection {
            if allowForeign { return nil }
            return PreflightFailure(check: name, reason: "\(context.modulePath) carries no kpatchctl metadata, so its target release, build ids and kthread safety cannot be checked",
                                    advice: "build the patch with kpatchctl build, or pass --foreign to load another tool's livepatch module unchecked")
        } catch {
            return PreflightFailure(check: name, reason: "\(error)", advice: "rebuild the patch with this kpatchctl")
        }
        let result = PatchIdentityCheck.check(meta, against: system)
        guard !result.mismatches.isEmpty else { return nil }
        return PreflightFailure(check: name, reason: result.mismatches.map(\.description).joined(separator: "\n  "),
                                advice: "nothing was loaded")
    }
}

/// Refuses a patch that replaces a kthread's resident function, that an
/// unconverted kthread can reach, or that a kthread of unknown entry is inside.
public struct KthreadSafetyPreflight: PreflightCheck {
    public let name = "kthread-safety"
    public let report: KthreadSafetyReport

    public init(report: KthreadSafetyReport) { self.report = report }

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        guard !report.safe else { return nil }
        let unanalysed = report.unanalysed.filter { $0.allowedBy == nil }
        let reasons = unanalysed.map(\.description) + report.refusals.map(\.description)
        var advice = report.refusals.isEmpty ? "" : "allow a kthread you know is safe with --allow-kthread COMM (or --allow-all-kthreads). "
        if !unanalysed.isEmpty { advice += "accept an object without analysis with --allow-unanalysed. " }
        return PreflightFailure(check: name, reason: reasons.joined(separator: "\n  "),
                                advice: advice + KthreadSafetyReport.limitationText)
    }
}

/// Refuses a patch whose code calls into a module it does not patch (vmlinux code calling a
/// module's export) while that module is not loaded: the kernel writes those livepatch
/// relocations only when the module loads, so until then the calls lead nowhere. Once
/// applied, the patch holds a reference on the module (its klp_object's callbacks).
public struct RelocationTargetsLoadedPreflight: PreflightCheck {
    public let name = "called-modules"

    public init() {}

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        // A patch without metadata is the identity check's refusal (or --foreign's risk).
        guard let meta = try? context.module.patchMetadata() else { return nil }
        let patched = Set(meta.functions.map(\.object) + meta.callbacks.map(\.object))
        var symbols: [String: [String]] = [:]
        for symbol in context.module.livepatchSymbols {
            guard let target = KlpSymbol(elfName: symbol), target.object != "vmlinux",
                  !patched.contains(target.object) else { continue }
            symbols[target.object, default: []].append(target.name)
        }
        let missing = symbols.keys.sorted().filter { !KernelModuleLoader.isLoaded($0, sysModule: context.sysModule) }
        guard !missing.isEmpty else { return nil }
        let named = missing.map { "\($0) (\(symbols[$0]!.sorted().joined(separator: ", ")))" }
        return PreflightFailure(check: name,
                                reason: "the patched code calls into module\(missing.count == 1 ? "" : "s") \(named.joined(separator: ", ")), which \(missing.count == 1 ? "is" : "are") not loaded: the kernel resolves those calls only when the module loads, so until then they would jump nowhere",
                                advice: "load \(missing.joined(separator: " ")) first (modprobe); while the patch is applied it keeps \(missing.count == 1 ? "that module" : "those modules") loaded")
    }
}

extension Preflight {
    /// Every check before loading a patch (apply, load-installed): the runtime's
    /// own, the patch's identity, its system states and, when the patch carries
    /// an analysis, kthread safety.
    public static func forPatch(allowForeign: Bool, kthreads: KthreadSafetyReport?) -> Preflight {
        var checks: [any PreflightCheck] = [PatchIdentityPreflight(allowForeign: allowForeign), SystemStatePreflight(),
                                            RelocationTargetsLoadedPreflight()]
        if let kthreads { checks.append(KthreadSafetyPreflight(report: kthreads)) }
        return Preflight.runtime.appending(checks)
    }
}
