/// The fields of `/proc/PID/stat` the kthread check needs.
public struct ProcStat: Equatable, Sendable {
    /// `PF_KTHREAD` in the task's flags: kernel threads never return to user
    /// mode, so they switch universe only by a stack check.
    public static let kthreadFlag: UInt64 = 0x0020_0000  // PF_KTHREAD, include/linux/sched.h

    public var pid: Int
    /// The task's name; it may contain spaces and parentheses.
    public var comm: String
    public var state: String
    public var ppid: Int
    public var flags: UInt64

    public var isKthread: Bool { flags & Self.kthreadFlag != 0 }

    /// Parses `pid (comm) state ppid pgrp session tty_nr tpgid flags ...`. The comm
    /// runs from the first "(" to the last ")", since a comm may contain either.
    public init(parsing text: String) throws {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close,
              let pid = Int(text[..<open].trimmingCharacters(in: [" "])) else {
            throw ProcParseError.stat(text: text, reason: "no \"pid (comm)\" prefix")
        }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // After the comm: state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9).
        guard fields.count >= 7, let ppid = Int(fields[1]), let flags = UInt64(fields[6]) else {
            throw ProcParseError.stat(text: text, reason: "fewer than 9 fields or a non-numeric ppid/flags")
        }
        self.pid = pid
        comm = String(text[text.index(after: open)..<close])
        state = String(fields[0])
        self.ppid = ppid
        self.flags = flags
    }
}

public enum ProcParseError: Error, CustomStringConvertible, Equatable {
    case stat(text: String, reason: String)

    public var description: String {
        switch self {
        case .stat(let text, let reason): return "cannot parse /proc/PID/stat (\(reason)): \(text.prefix(120))"
        }
    }
}

extension StringProtocol {
    /// Drops leading and trailing characters of `set` (Foundation's CharacterSet
    /// version is not in FoundationEssentials).
    public func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
