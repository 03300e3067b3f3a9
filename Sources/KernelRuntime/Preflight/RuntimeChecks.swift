import CKernel
import PatchModel

/// The caller must hold CAP_SYS_MODULE (finit_module and delete_module need it).
public struct PrivilegeCheck: PreflightCheck {
    public let name = "privilege"
    public let statusPath: String
    public init(statusPath: String = "/proc/self/status") { self.statusPath = statusPath }

    public func check(_ context: PreflightContext) -> PreflightFailure? { check() }

    /// The same check without a module (revert).
    public func check() -> PreflightFailure? {
        if PrivilegeCheck.hasModuleCapability(statusPath: statusPath) { return nil }
        return PreflightFailure(check: name, reason: "this process lacks CAP_SYS_MODULE",
                                advice: "run kpatchctl as root")
    }

    /// Reads the effective capability set (`CapEff:` in hex) from /proc/<pid>/status.
    public static func hasModuleCapability(statusPath: String = "/proc/self/status") -> Bool {
        guard let text = try? KernelFile.read(statusPath) else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            guard let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: ["\t"])
                .trimmingCharacters(in: [" "]), radix: 16) else { return false }
            return mask & (UInt64(1) << UInt64(CKERNEL_CAP_SYS_MODULE)) != 0
        }
        return false
    }
}

/// The kernel has the livepatch core (CONFIG_LIVEPATCH) and sysfs shows it.
public struct LivepatchSupportCheck: PreflightCheck {
    public let name = "livepatch-support"
    public init() {}

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        if context.sysfs.isAvailable { return nil }
        return PreflightFailure(check: name, reason: "\(context.sysfs.root) does not exist",
                                advice: "boot a kernel built with CONFIG_LIVEPATCH=y and mount sysfs")
    }
}

/// The file is a livepatch module: modpost gave it a name, and it declares
/// MODULE_INFO(livepatch, "Y") (without it klp_enable_patch refuses).
public struct LivepatchModuleCheck: PreflightCheck {
    public let name = "livepatch-module"
    public init() {}

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        guard context.module.name != nil else {
            return PreflightFailure(check: name, reason: "\(context.modulePath) has no name= in .modinfo",
                                    advice: "link the module through Kbuild (modpost adds the name)")
        }
        if context.module.isLivepatch { return nil }
        return PreflightFailure(check: name, reason: "\(context.modulePath) is not a livepatch module (no livepatch=Y in .modinfo)",
                                advice: "build it with kpatchctl build, or add MODULE_INFO(livepatch, \"Y\")")
    }
}

/// No module of the patch's name is loaded (the kernel would refuse with EEXIST).
public struct NameNotLoadedCheck: PreflightCheck {
    public let name = "name-free"
    public init() {}

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        guard let module = context.module.name,
              KernelModuleLoader.isLoaded(module, sysModule: context.sysModule) else { return nil }
        return PreflightFailure(check: name, reason: "a module named \(module) is already loaded",
                                advice: "revert it first (kpatchctl revert \(module)) or build the patch under another name")
    }
}

/// The kernel runs one livepatch transition at a time (klp_enable_patch: EBUSY).
public struct NoTransitionRunningCheck: PreflightCheck {
    public let name = "no-transition"
    public init() {}

    /// Fails closed: a sysfs that cannot be read refuses, naming the error.
    public func check(_ context: PreflightContext) -> PreflightFailure? {
        let transitioning: LivepatchPatch?
        do { transitioning = try context.sysfs.transitioningPatch() } catch LivepatchSysfsError.noLivepatchSupport {
            return nil  // no livepatch core, no transition: livepatch-support refuses
        } catch {
            return PreflightFailure(check: name, reason: "cannot tell whether a livepatch is in transition: \(error)",
                                    advice: "check that \(context.sysfs.root) is readable (mounted sysfs, run as root), then apply again")
        }
        guard let running = transitioning, let direction = running.direction else { return nil }
        return PreflightFailure(check: name, reason: "livepatch \(running.name) is in transition (\(direction.rawValue))",
                                advice: "wait until it finishes (kpatchctl status) or revert it, then apply again")
    }
}
