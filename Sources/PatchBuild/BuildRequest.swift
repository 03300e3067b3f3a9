import FoundationEssentials
import PatchModel

/// What `kpatchctl build` was asked to do: what every target shares, and the
/// target kind's own part (an out-of-tree module, or the kernel itself).
public struct BuildRequest: Sendable {
    public enum Target: Sendable {
        case module(ModuleTargetOptions)
        case kernel(KernelTargetOptions)
    }

    public var target: Target
    public var diffFile: URL
    public var kernelRelease: String
    public var headers: URL?
    /// The target's debug vmlinux (default /usr/lib/debug/boot/vmlinux-<release>).
    public var vmlinux: URL?
    public var output: URL?
    public var patchName: String?
    public var cache: BuildCache
    /// The patch-module template (kmod/).
    public var templateDir: URL
    public var toolVersion: String
    /// Build a cumulative patch that replaces every enabled one (klp_patch.replace).
    public var replace = false
    /// Where a release's packages are fetched to and its build root made when the host lacks
    /// them (default `KernelPackageStore.defaultRoot`).
    public var packages: URL?

    public var packageStore: KernelPackageStore {
        KernelPackageStore(root: packages ?? KernelPackageStore.defaultRoot(cache: cache))
    }
    /// The CVEs it fixes and its description, stored in the metadata.
    public var operations: PatchOperations = .none
    /// Sign the module (build --sign-key/--sign-cert); nil: unsigned.
    public var signing: ModuleSigning?
    /// The diff already read (a multi-release build reads it once); nil: read `diffFile`.
    public var diff: SourceDiff?
    /// A patch replacing more functions than this is refused after the diff
    /// (`BuildError.tooManyFunctions`), naming the count and the first of them.
    public var maxFunctions = BuildRequest.defaultMaxFunctions
    public static let defaultMaxFunctions = 100
    /// `.make` links through `make M=` even where the release's recorded Kbuild commands would
    /// (`build --link-with make`); nil: the recorded commands where they can be had.
    public var linker: PatchModuleLinker?

    public init(target: Target, diffFile: URL, kernelRelease: String, headers: URL? = nil, vmlinux: URL? = nil,
                output: URL? = nil, patchName: String? = nil, cache: BuildCache, templateDir: URL, toolVersion: String) {
        self.target = target
        self.diffFile = diffFile
        self.kernelRelease = kernelRelease
        self.headers = headers
        self.vmlinux = vmlinux
        self.output = output
        self.patchName = patchName
        self.cache = cache
        self.templateDir = templateDir
        self.toolVersion = toolVersion
    }

    /// A livepatch module name from the diff's file name: `fix.diff` ->
    /// `livepatch_fix` (module names are [a-z0-9_], at most 55 characters).
    public static func defaultPatchName(for diff: URL) -> String {
        let stem = diff.deletingPathExtension().lastPathComponent.lowercased()
        let cleaned = String(stem.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return String(("livepatch_" + cleaned).prefix(55))
    }

    /// `name` or the default for `diff`, refused unless the kernel accepts it.
    static func checkedPatchName(_ name: String?, diff: URL) throws -> String {
        let chosen = name ?? defaultPatchName(for: diff)
        guard isValidModuleName(chosen) else {
            throw BuildError.verification("'\(chosen)' is not a valid module name: use [a-z0-9_], at most 55 characters (--name)")
        }
        return chosen
    }

    /// Module names the kernel accepts: [A-Za-z0-9_-], at most 55 bytes.
    public static func isValidModuleName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 55 &&
            name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}

/// An out-of-tree module target: its source directory (only ever read).
public struct ModuleTargetOptions: Sendable {
    public var moduleSource: URL
    /// The module as the user built and deployed it: its build id identifies the
    /// target at apply time and its symbol table gives sympos. Default: the
    /// `<module>.ko` in the source directory, if the user built it there.
    public var deployedModule: URL?

    public init(moduleSource: URL, deployedModule: URL? = nil) {
        self.moduleSource = moduleSource
        self.deployedModule = deployedModule
    }
}

/// The kernel itself: vmlinux and the in-tree modules, from the release's own source tree.
public struct KernelTargetOptions: Sendable {
    /// The kernel source: Debian's linux-source tarball (default
    /// /usr/src/linux-source-<major.minor>.tar.xz) or a directory.
    public var source: URL?
    /// The target's .config (default: the headers' .config).
    public var config: URL?
    /// The target's modules (default /lib/modules/<release>), for in-tree module objects.
    public var modulesDir: URL?
    /// Their debug builds with DWARF, for the kthread analysis (default Debian's
    /// /usr/lib/debug/lib/modules/<release> from linux-image-<release>-dbg).
    public var modulesDebugDir: URL?
    /// More objects than this to compile (those that use what the diff changes) is
    /// refused before anything is compiled, with the time the build would take;
    /// below it every user is compiled and the differ decides what changed.
    public var maxObjects = KernelTargetOptions.defaultMaxObjects
    public static let defaultMaxObjects = 400

    public init(source: URL? = nil, config: URL? = nil, modulesDir: URL? = nil, modulesDebugDir: URL? = nil) {
        self.source = source
        self.config = config
        self.modulesDir = modulesDir
        self.modulesDebugDir = modulesDebugDir
    }
}
