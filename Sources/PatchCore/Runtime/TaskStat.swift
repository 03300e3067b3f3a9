import CKernel

/// The fields of /proc/<pid>/task/<tid>/stat we use.
public struct TaskStat: Equatable, Sendable {
    public let tid: Int
    public let comm: String
    /// One-letter scheduler state (R, S, D, ...).
    public let state: Character
    public let flags: UInt64

    /// PF_KTHREAD: kernel threads never return to user mode, so they switch
    /// universe only by a stack check.
    public var isKthread: Bool { flags & UInt64(CKERNEL_PF_KTHREAD) != 0 }

    /// Parses `tid (comm) state ppid pgrp session tty tpgid flags ...`. The comm may
    /// hold spaces and parentheses, so it ends at the last ')'.
    public init?(text: String) {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close,
              let tid = Int(text[..<open].trimmingCharacters(in: " ")) else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] = state, rest[1..5] = ppid pgrp session tty_nr tpgid, rest[6] = flags.
        guard rest.count > 6, let state = rest[0].first, let flags = UInt64(rest[6]) else { return nil }
        self.tid = tid
        self.comm = String(text[text.index(after: open)..<close])
        self.state = state
        self.flags = flags
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
