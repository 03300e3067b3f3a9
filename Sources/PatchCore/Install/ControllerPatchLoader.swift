/// load-installed's loader for the real kernel: the controller, with the same
/// preflight as `apply` (runtime checks, identity, kthread safety, no allowances).
public struct ControllerPatchLoader: InstalledPatchLoader {
    public var controller = LivepatchController()
    public var options: TransitionOptions
    public var events: (ControllerEvent) -> Void

    public init(options: TransitionOptions, events: @escaping (ControllerEvent) -> Void) {
        self.options = options
        self.events = events
    }

    public func loadedPatches() throws -> Set<String> {
        Set(try controller.sysfs.patchNames())
    }

    public func apply(_ patch: InstalledPatch, modulePath: String) throws -> ControllerReport {
        var checks: [any PreflightCheck] = [PatchIdentityPreflight(allowForeign: false)]
        if let meta = try? KernelModuleFile(path: modulePath).patchMetadata(),
           let report = try KthreadSafetyReport.evaluate(meta, kthreads: ProcKthreads.read(), allowComms: [], allowAll: false) {
            checks.append(KthreadSafetyPreflight(report: report))
        }
        return try controller.apply(modulePath: modulePath, preflight: Preflight.runtime.appending(checks),
                                    options: options, events: events)
    }
}
