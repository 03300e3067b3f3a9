import PatchModel

/// A switch-related event from the kpatchctl tracefs instance.
public struct SwitchEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// klp_update_patch_state ran in this task (return to user mode).
        case userReturn
        /// klp_check_and_switch_task was entered for task `checkedTid`.
        case stackCheckEntry(checkedTid: Int)
        /// klp_check_and_switch_task returned `result` (0: the checked task switched).
        case stackCheckReturn(result: Int)
    }

    /// The task the event fired in (common_pid).
    public let tid: Int
    /// Trace clock seconds (the instance uses "mono": CLOCK_MONOTONIC).
    public let time: Double
    public let kind: Kind

    /// Event names of the kpatchctl kprobe group.
    public static let userReturnEvent = "user_return"
    public static let stackCheckEvent = "stack_check"
    public static let stackCheckReturnEvent = "stack_check_ret"

    public init(tid: Int, time: Double, kind: Kind) {
        self.tid = tid
        self.time = time
        self.kind = kind
    }

    /// Parses one line of a tracefs `trace` file:
    /// `   comm-123  [001] d..1.  12.345678: user_return: (klp_update_patch_state+0x0/0x50)`.
    /// The comm may contain spaces or dashes: the pid follows the last '-' before " [".
    public init?(line: Substring) {
        guard !line.hasPrefix("#"), let cpu = line.firstRange(of: " [") else { return nil }
        let task = line[..<cpu.lowerBound].dropLast(while: { $0 == " " })
        guard let dash = task.lastIndex(of: "-"), let tid = Int(task[task.index(after: dash)...]) else { return nil }
        let fields = line[cpu.upperBound...].split(separator: " ", omittingEmptySubsequences: true)
        // fields: "001]" flags "12.345678:" "event:" "(...)" args...
        guard fields.count >= 4, fields[2].hasSuffix(":"), let time = Double(fields[2].dropLast()),
              fields[3].hasSuffix(":") else { return nil }
        let event = fields[3].dropLast()
        let args = SwitchEvent.arguments(fields.dropFirst(4))
        switch event {
        case Substring(SwitchEvent.userReturnEvent): kind = .userReturn
        case Substring(SwitchEvent.stackCheckEvent):
            guard let pid = args["pid"].flatMap({ Int($0) }) else { return nil }
            kind = .stackCheckEntry(checkedTid: pid)
        case Substring(SwitchEvent.stackCheckReturnEvent):
            guard let ret = args["ret"].flatMap({ Int($0) }) else { return nil }
            kind = .stackCheckReturn(result: ret)
        default: return nil
        }
        self.tid = tid
        self.time = time
    }

    private static func arguments<S: Sequence>(_ fields: S) -> [String: String] where S.Element == Substring {
        var args: [String: String] = [:]
        for field in fields {
            guard let eq = field.firstIndex(of: "=") else { continue }
            args[String(field[..<eq])] = String(field[field.index(after: eq)...])
        }
        return args
    }

    public static func parse(_ text: String) -> [SwitchEvent] {
        text.split(separator: "\n").compactMap { SwitchEvent(line: $0) }
    }

    /// Which task switched how and when, from a parsed trace: the first
    /// user-return of each task, and each stack check that returned 0, paired with
    /// its entry in the same checking task.
    public static func switches(_ events: [SwitchEvent]) -> [Int: (path: SwitchPath, time: Double)] {
        var result: [Int: (path: SwitchPath, time: Double)] = [:]
        var pendingCheck: [Int: Int] = [:]  // checking tid -> checked tid
        for event in events.sorted(by: { $0.time < $1.time }) {
            switch event.kind {
            case .userReturn:
                if result[event.tid] == nil { result[event.tid] = (.userReturn, event.time) }
            case .stackCheckEntry(let checked):
                pendingCheck[event.tid] = checked
            case .stackCheckReturn(let value):
                if let checked = pendingCheck.removeValue(forKey: event.tid), value == 0, result[checked] == nil {
                    result[checked] = (.stackCheck, event.time)
                }
            }
        }
        return result
    }
}

extension SwitchEvent {
    /// The result of the latest stack check of each checked task (0 or -errno).
    public static func lastStackChecks(_ events: [SwitchEvent]) -> [Int: Int] {
        var result: [Int: Int] = [:]
        var pendingCheck: [Int: Int] = [:]
        for event in events.sorted(by: { $0.time < $1.time }) {
            switch event.kind {
            case .stackCheckEntry(let checked): pendingCheck[event.tid] = checked
            case .stackCheckReturn(let value):
                if let checked = pendingCheck.removeValue(forKey: event.tid) { result[checked] = value }
            case .userReturn: break
            }
        }
        return result
    }
}

/// Where a task switched universe.
public enum SwitchPath: String, Codable, Sendable, CaseIterable {
    /// klp_update_patch_state on the way back to user mode.
    case userReturn = "user-return"
    /// klp_check_and_switch_task found no patched function on its stack.
    case stackCheck = "stack-check"
    /// Created during the transition: a child starts in its parent's universe.
    case fork
    /// Switched between two samples with no event to say how.
    case unknown
}
