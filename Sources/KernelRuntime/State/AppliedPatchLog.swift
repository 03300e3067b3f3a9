import Glibc
import PatchModel

/// What apply records about a patch it loaded, for `status`, `list` and the
/// system-state check: 6.1 shows neither a patch's states nor `replace` in sysfs
/// (the `replace` attribute came in 6.11), so kpatchctl keeps them itself.
public struct AppliedPatch: Codable, Equatable, Sendable {
    public let name: String
    /// Wall-clock seconds since the epoch when its transition completed.
    public let appliedAt: Double
    /// Built with --replace (klp_patch.replace).
    public let cumulative: Bool
    /// The patches it replaced (their modules were unloaded by apply).
    public let replaced: [String]
    public let states: [SystemState]
    /// The CVEs it fixes and its description, from its metadata (absent when it has none).
    public var operations: PatchOperations?

    public init(name: String, appliedAt: Double, cumulative: Bool, replaced: [String], states: [SystemState],
                operations: PatchOperations? = nil) {
        self.name = name
        self.appliedAt = appliedAt
        self.cumulative = cumulative
        self.replaced = replaced
        self.states = states
        self.operations = operations
    }
}

/// /run/kpatchctl/patches.json: one record per patch apply loaded and nobody
/// removed yet. Lost on reboot, like the patches themselves.
public struct AppliedPatchLog: Sendable {
    public let log: TransitionLog

    public init(log: TransitionLog = TransitionLog()) { self.log = log }

    public var path: String { "\(log.directory)/patches.json" }

    public func all() -> [AppliedPatch] { log.read(path, as: [AppliedPatch].self) ?? [] }

    /// The records, [] when there is no file yet (nothing applied since boot);
    /// throws when the file exists but cannot be read or decoded (the
    /// system-state check must not take a broken file for "nothing running").
    public func records() throws -> [AppliedPatch] {
        let bytes: [UInt8]
        do { bytes = try KernelFile.readBytes(path) } catch let error as KernelFileError where error.errno == ENOENT {
            return []
        }
        return try JSONCoding.decoder.decode([AppliedPatch].self, from: JSONCoding.data(bytes))
    }

    public func record(named name: String) -> AppliedPatch? { all().first { $0.name == name } }

    /// Records `patch` and forgets the patches it replaced.
    public func add(_ patch: AppliedPatch) throws {
        let gone = Set(patch.replaced + [patch.name])
        try log.write(all().filter { !gone.contains($0.name) } + [patch], to: path)
    }

    public func remove(_ name: String) throws {
        let records = all()
        guard records.contains(where: { $0.name == name }) else { return }
        try log.write(records.filter { $0.name != name }, to: path)
    }
}
