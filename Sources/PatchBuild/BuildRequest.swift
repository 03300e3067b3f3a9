import FoundationEssentials
import PatchModel

/// What `kpatchctl build` was asked to do, for an out-of-tree module target.
public struct ModuleBuildRequest: Sendable {
    public var diffFile: URL
    public var moduleSource: URL
    public var kernelRelease: String
    public var headers: URL?
    /// The target's debug vmlinux (default /usr/lib/debug/boot/vmlinux-<release>).
    public var vmlinux: URL?
    /// The module as the user built and deployed it: its build id identifies the
    /// target at apply time and its symbol table gives sympos. Default: the
    /// `<module>.ko` in the source directory, if the user built it there.
    public var deployedModule: URL?
    public var output: URL?
    public var patchName: String?
    public var cache: BuildCache
    /// The patch-module template (kmod/).
    public var templateDir: URL
    public var toolVersion: String
    /// Build a cumulative patch that replaces every enabled one (klp_patch.replace).
    public var replace = false

    public init(diffFile: URL, moduleSource: URL, kernelRelease: String, headers: URL? = nil,
                vmlinux: URL? = nil, deployedModule: URL? = nil, output: URL? = nil, patchName: String? = nil,
                cache: BuildCache, templateDir: URL, toolVersion: String) {
        self.diffFile = diffFile
        self.moduleSource = moduleSource
        self.kernelRelease = kernelRelease
        self.headers = headers
        self.vmlinux = vmlinux
        self.deployedModule = deployedModule
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

/// One line of progress: a stage starting or finishing, with its elapsed time.
public struct BuildEvent: Sendable {
    public enum Kind: Sendable { case started, finished, note }
    public let stage: BuildStage
    public let kind: Kind
    public let message: String
    public let seconds: Double
}

/// What a successful build produced.
public struct BuildResult: Codable, Sendable {
    public struct StageTime: Codable, Sendable {
        public let stage: BuildStage
        public let seconds: Double
    }
    public let output: String
    public let patchName: String
    public let targetObject: String
    public let targetBuildID: String?
    public let functions: [PatchMetadata.Function]
    public let newSymbols: [String]
    public let livepatchSymbols: [String]
    public let rebuiltObjects: [String]
    public let originalBuildCached: Bool
    /// Kthread entry functions that reach a replaced function, with the path.
    public let kthreadWarnings: [String]
    public let stages: [StageTime]
    /// A cumulative patch (--replace).
    public var replace = false
    public var callbacks: [PatchCallback] = []
    public var states: [SystemState] = []
    /// Changes left out because the author marked them (KPATCH_IGNORE_*).
    public var ignored: [IgnoredChange] = []
    /// Replaced functions per reason, and what the diff left out as noise.
    public var diff = DiffSummary()
    /// Kernel targets: touched files no object of the target compiles, each with why.
    public var ignoredFiles: [String] = []
}
