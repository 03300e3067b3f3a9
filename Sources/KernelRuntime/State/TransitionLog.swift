import Glibc
import PatchModel

/// The record of one transition, kept in /run/kpatchctl for `status`.
public struct TransitionRecord: Codable, Equatable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        /// Still running (the file of the transition in progress).
        case running
        /// Every task reached the target universe.
        case completed
        /// Timed out, reversed: every task is back where it started.
        case reversed
        /// Timed out and left running (--no-revert), or the reversal stalled too.
        case stalled
    }

    public let patch: String
    public let direction: TransitionDirection
    /// Wall-clock seconds since the epoch.
    public let startedAt: Double
    public var endedAt: Double?
    public var outcome: Outcome
    /// "tracefs" (kprobe events) or "polling".
    public var tracking: String
    /// The pid of the kpatchctl that runs it.
    public let controllerPid: Int
    public var switches: [TaskSwitch]
    /// Tasks that had not switched when the deadline passed.
    public var blockers: [BlockingTask]

    public init(patch: String, direction: TransitionDirection, startedAt: Double, tracking: String) {
        self.patch = patch
        self.direction = direction
        self.startedAt = startedAt
        self.endedAt = nil
        self.outcome = .running
        self.tracking = tracking
        self.controllerPid = Int(getpid())
        self.switches = []
        self.blockers = []
    }

    public var seconds: Double? { endedAt.map { $0 - startedAt } }

    /// Switch counts per path.
    public var countsByPath: [String: Int] {
        Dictionary(grouping: switches, by: { $0.path.rawValue }).mapValues(\.count)
    }

    /// The tasks that switched last.
    public func slowest(_ n: Int) -> [TaskSwitch] {
        Array(switches.sorted { ($0.seconds, $0.tid) > ($1.seconds, $1.tid) }.prefix(n))
    }
}

/// The state files under /run/kpatchctl: the transition in progress (so `status`
/// from another process knows its age) and the last finished one.
public struct TransitionLog: Sendable {
    public static let defaultDirectory = "/run/kpatchctl"
    public let directory: String

    public init(directory: String = TransitionLog.defaultDirectory) { self.directory = directory }

    public var currentPath: String { "\(directory)/transition.json" }
    public var lastPath: String { "\(directory)/last-transition.json" }

    public func begin(_ record: TransitionRecord) throws {
        try write(record, to: currentPath)
    }

    public func finish(_ record: TransitionRecord) throws {
        try write(record, to: lastPath)
        unlink(currentPath)
    }

    public func current() -> TransitionRecord? { read(currentPath) }
    public func last() -> TransitionRecord? { read(lastPath) }

    /// nil when the file is missing or unreadable: state files only inform `status`.
    func read<Record: Decodable>(_ path: String, as type: Record.Type = Record.self) -> Record? {
        guard let bytes = try? KernelFile.readBytes(path) else { return nil }
        return try? JSONCoding.decoder.decode(Record.self, from: JSONCoding.data(bytes))
    }

    /// Written to a temporary file and renamed, so readers never see half a record.
    func write<Record: Encodable>(_ record: Record, to path: String) throws {
        try StateFile.makeDirectories(directory)
        try StateFile.replace(path, with: try JSONCoding.string(record))
    }
}
