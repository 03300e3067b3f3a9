import PatchModel

/// One patch in the install store: its module file beside this record, for one
/// kernel release. Records are written last and removed first, so a record
/// always names a complete module file.
public struct InstalledPatch: Codable, Equatable, Sendable {
    /// The module's name: also its /sys/kernel/livepatch name.
    public let name: String
    public let release: String
    /// Install order within the release: load-installed applies in this order.
    public let sequence: Int
    /// Wall-clock seconds since the epoch.
    public let installedAt: Double
    /// The file it was installed from.
    public let installedFrom: String
    public let vermagic: String
    public let diffSHA256: String
    /// "object:function,sympos" for each replaced function.
    public let functions: [String]
    public let requiredFeatures: UInt64
    public let optionalFeatures: UInt64
    /// The CVEs it fixes and its description (absent when it has none, and in older records).
    public let operations: PatchOperations?

    public init(name: String, release: String, sequence: Int, installedAt: Double, installedFrom: String,
                metadata: PatchMetadata) {
        self.name = name
        self.release = release
        self.sequence = sequence
        self.installedAt = installedAt
        self.installedFrom = installedFrom
        vermagic = metadata.vermagic
        diffSHA256 = metadata.diffSHA256
        functions = metadata.functions.map { "\($0.object):\($0.name),\($0.sympos)" }
        requiredFeatures = metadata.requiredFeatures.rawValue
        optionalFeatures = metadata.optionalFeatures.rawValue
        operations = metadata.operations.ifAny
    }
}
