import FoundationEssentials
import PatchModel

/// One line of progress: a stage starting or finishing, with its elapsed time; a note;
/// or how far a compile is (`progress`: message "12/70 objects", seconds since it began),
/// which a terminal shows on one line that each report rewrites.
public struct BuildEvent: Sendable {
    public enum Kind: Sendable { case started, finished, note, progress }
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
    /// Where the objects were compiled: `host <compiler>` or `build root <release> (<dir>): <compiler>`.
    public var toolchain = ""
    /// The CVEs and description stored in its metadata (`--cve`, `--description`).
    public var operations: PatchOperations = .none
    /// Symbols the patch module exports (new `EXPORT_SYMBOL` functions of the fix).
    public var exports: [String] = []
    /// The patch module's Module.symvers beside it, when it exports symbols: modules that
    /// call them are built with `KBUILD_EXTRA_SYMBOLS=<this file>` (docs/AUTHOR-API.md).
    public var moduleSymvers: String?
    /// How the module was linked: the release's recorded Kbuild commands, or make.
    public var linker: PatchModuleLinker = .make
    /// The appended signature (build --sign-key), nil when not signed.
    public var signature: ModuleSignature?
}
