import PatchModel
import KthreadSafety

/// load-installed's loader for the real kernel: the controller, with the same
/// preflight as `apply` (Preflight.forPatch, no allowances).
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
        let kthreads = try (try? KernelModuleFile(path: modulePath).patchMetadata()).flatMap {
            try KthreadSafetyReport.evaluate($0, kthreads: ProcKthreads.read(), allowComms: [], allowAll: false)
        }
        return try controller.apply(modulePath: modulePath, preflight: .forPatch(allowForeign: false, kthreads: kthreads),
                                    options: options, events: events)
    }
}
