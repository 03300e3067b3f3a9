/// What every patch module says about itself, embedded in its `.kpatchctl.meta`
/// section (docs/PATCH-FORMAT.md). `kpatchctl info` prints it; `apply` checks the
/// identity fields against the running system before loading anything.
public struct PatchMetadata: Codable, Equatable, Sendable {
    /// A kernel object the patch targets and, when known, the GNU build id of the
    /// build it was made for.
    public struct Target: Codable, Equatable, Sendable {
        public var object: String
        public var buildID: String?
        public init(object: String, buildID: String?) {
            self.object = object
            self.buildID = buildID
        }
    }

    /// One function the patch replaces, as the livepatch core names it (the
    /// differ's result, recorded as is).
    public typealias Function = ReplacedFunction

    public var formatVersion: UInt16 = PatchMetadataFormat.currentVersion
    public var requiredFeatures: PatchFeatures = []
    public var optionalFeatures: PatchFeatures = []
    public var arch: String
    public var kernelRelease: String
    public var vermagic: String
    public var targets: [Target]
    public var patchName: String
    /// Seconds since the epoch, UTC.
    public var createdAt: UInt64
    /// Lower-case hex SHA-256 of the source diff the patch was built from.
    public var diffSHA256: String
    public var functions: [Function]
    public var toolVersion: String
    /// The kthread analysis, one self-versioned `KthreadReachability` blob per
    /// patched object the builder could analyse.
    public var kthreadReachability: [[UInt8]]
    /// Per-object callbacks the author registered (kpatch-macros.h).
    public var callbacks: [PatchCallback] = []
    /// System states the patch declares (klp_patch.states).
    public var states: [SystemState] = []
    /// Where the patch's objects were compiled (`host gcc-12 (Debian ...) 12.2.0`, `build root
    /// trixie (...): x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0`); nil in patches built
    /// before it was recorded (record 11: older readers skip it).
    public var toolchain: String?

    /// A cumulative patch: built with --replace, it replaces every enabled patch
    /// (klp_patch.replace) in one transition.
    public var replacesAll: Bool { requiredFeatures.contains(.replace) }

    public init(arch: String, kernelRelease: String, vermagic: String, targets: [Target],
                patchName: String, createdAt: UInt64, diffSHA256: String, functions: [Function],
                toolVersion: String, kthreadReachability: [[UInt8]] = [], replace: Bool = false,
                callbacks: [PatchCallback] = [], states: [SystemState] = [], toolchain: String? = nil) {
        self.arch = arch
        self.kernelRelease = kernelRelease
        self.vermagic = vermagic
        self.targets = targets
        self.patchName = patchName
        self.createdAt = createdAt
        self.diffSHA256 = diffSHA256
        self.functions = functions
        self.toolVersion = toolVersion
        self.kthreadReachability = kthreadReachability
        if !kthreadReachability.isEmpty { optionalFeatures.insert(.kthreadReachability) }
        self.callbacks = callbacks
        self.states = states
        self.toolchain = toolchain
        if replace { requiredFeatures.insert(.replace) }
        if !callbacks.isEmpty { optionalFeatures.insert(.callbacks) }
        if !states.isEmpty { optionalFeatures.insert(.states) }
    }
}

/// The u64 feature vectors. Bits are append-only: a bit, once given a meaning,
/// keeps it forever. A reader refuses a patch with a required bit it does not
/// know and ignores optional bits it does not know.
public struct PatchFeatures: OptionSet, Codable, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Optional bit 0: the patch carries kthread-reachability records.
    public static let kthreadReachability = PatchFeatures(rawValue: 1 << 0)

    /// Required bit 1: a cumulative patch (klp_patch.replace). Applying it
    /// replaces and unloads every enabled patch; a reader that does not know
    /// that would leave the replaced modules behind and misreport what runs.
    public static let replace = PatchFeatures(rawValue: 1 << 1)
    /// Optional bit 2: the patch registers callbacks (records of tag 20).
    public static let callbacks = PatchFeatures(rawValue: 1 << 2)
    /// Optional bit 3: the patch declares system states (records of tag 21); the
    /// kernel checks them too, a reader only checks them earlier.
    public static let states = PatchFeatures(rawValue: 1 << 3)

    /// Required bits this reader understands.
    public static let knownRequired: PatchFeatures = [.replace]
    /// Optional bits this reader understands.
    public static let knownOptional: PatchFeatures = [.kthreadReachability, .callbacks, .states]
}

public enum PatchMetadataError: Error, Equatable, CustomStringConvertible {
    case truncated(what: String, offset: Int)
    case badString(what: String)
    case badMagic([UInt8])
    case unsupportedVersion(UInt16)
    case unknownRequiredFeatures(UInt64)
    case missingRecord(String)
    case badRecord(tag: UInt16, why: String)
    case noMetadataSection(file: String)

    public var description: String {
        switch self {
        case .truncated(let what, let offset):
            return "patch metadata is truncated: \(what) at byte \(offset) runs past the end"
        case .badString(let what):
            return "patch metadata: \(what) is not valid UTF-8"
        case .badMagic(let bytes):
            return "not kpatchctl patch metadata (magic \(bytes.map { String($0, radix: 16) }.joined(separator: " ")))"
        case .unsupportedVersion(let v):
            return "patch metadata format version \(v) is newer than this kpatchctl understands (\(PatchMetadataFormat.currentVersion)); use a newer kpatchctl"
        case .unknownRequiredFeatures(let bits):
            return "patch requires features this kpatchctl does not know (bits 0x\(String(bits, radix: 16))); use a newer kpatchctl"
        case .missingRecord(let name):
            return "patch metadata lacks its \(name) record"
        case .badRecord(let tag, let why):
            return "patch metadata record \(tag) is malformed: \(why)"
        case .noMetadataSection(let file):
            return "\(file) has no \(PatchMetadataFormat.sectionName) section: it was not built by kpatchctl build"
        }
    }
}
