import FoundationEssentials

/// What `kpatchctl build` was asked to do for the kernel itself: vmlinux and the
/// in-tree modules, from the target release's own source tree.
public struct KernelBuildRequest: Sendable {
    public var diffFile: URL
    public var kernelRelease: String
    public var headers: URL?
    /// The kernel source: Debian's linux-source tarball (default
    /// /usr/src/linux-source-<major.minor>.tar.xz) or a directory.
    public var source: URL?
    /// The target's .config (default: the headers' .config).
    public var config: URL?
    public var vmlinux: URL?
    /// The target's modules (default /lib/modules/<release>), for in-tree module objects.
    public var modulesDir: URL?
    /// Their debug builds with DWARF, for the kthread analysis (default Debian's
    /// /usr/lib/debug/lib/modules/<release> from linux-image-<release>-dbg).
    public var modulesDebugDir: URL?
    public var output: URL?
    public var patchName: String?
    public var cache: BuildCache
    public var templateDir: URL
    public var toolVersion: String
    /// A header change that reaches more objects whose code changes than this is
    /// refused as not a sensible live patch.
    public var maxChangedObjects = 32
    /// Build a cumulative patch that replaces every enabled one (klp_patch.replace).
    public var replace = false

    public init(diffFile: URL, kernelRelease: String, headers: URL? = nil, source: URL? = nil, config: URL? = nil,
                vmlinux: URL? = nil, modulesDir: URL? = nil, modulesDebugDir: URL? = nil, output: URL? = nil, patchName: String? = nil,
                cache: BuildCache, templateDir: URL, toolVersion: String) {
        self.diffFile = diffFile
        self.kernelRelease = kernelRelease
        self.headers = headers
        self.source = source
        self.config = config
        self.vmlinux = vmlinux
        self.modulesDir = modulesDir
        self.modulesDebugDir = modulesDebugDir
        self.output = output
        self.patchName = patchName
        self.cache = cache
        self.templateDir = templateDir
        self.toolVersion = toolVersion
    }
}
