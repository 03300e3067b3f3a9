import Glibc
import PatchModel

/// Kprobe events that watch tasks switch universe, in a tracefs instance of their
/// own so the global trace buffer is left alone:
///   user_return      p klp_update_patch_state (fires in the task, at the return to user mode)
///   stack_check      p klp_check_and_switch_task pid=<task_struct.pid of $arg1>
///   stack_check_ret  r klp_check_and_switch_task ret=$retval (0: the checked task switched)
/// The stack-check pair needs the offset of task_struct.pid (from BTF); without it
/// only user_return is traced.
public final class SwitchProbes {
    public static let group = "kpatchctl"
    public let tracefs: String
    public let tracesStackChecks: Bool
    private var instance: String { "\(tracefs)/instances/\(SwitchProbes.group)" }
    private var live = true

    /// Candidate tracefs mount points, in order.
    public static let mountPoints = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    /// nil when tracefs or kprobe events are not available (callers then poll).
    public init?(mountPoints: [String] = SwitchProbes.mountPoints, pidOffset: Int?) {
        guard let root = mountPoints.first(where: { KernelFile.exists("\($0)/kprobe_events") }) else { return nil }
        tracefs = root
        SwitchProbes.removeStale(tracefs: root)
        let instance = "\(root)/instances/\(SwitchProbes.group)"
        var events: [String] = []
        do {
            try SwitchProbes.define(tracefs: root, SwitchEvent.userReturnEvent, "p klp_update_patch_state")
            events.append(SwitchEvent.userReturnEvent)
            if let offset = pidOffset {
                // Optional: without it, stack-check switches are inferred from polling.
                if (try? SwitchProbes.define(tracefs: root, SwitchEvent.stackCheckEvent,
                                             "p klp_check_and_switch_task pid=+\(offset)($arg1):s32")) != nil,
                   (try? SwitchProbes.define(tracefs: root, SwitchEvent.stackCheckReturnEvent,
                                             "r klp_check_and_switch_task ret=$retval:s32")) != nil {
                    events += [SwitchEvent.stackCheckEvent, SwitchEvent.stackCheckReturnEvent]
                }
            }
            try SwitchProbes.makeInstanceWithoutCmdlineRecording(tracefs: root, instance: instance)
            try KernelFile.write("\(instance)/trace_clock", "mono")
            // The idle loop calls klp_update_patch_state all the time; idle tasks have pid 0.
            try KernelFile.write("\(instance)/events/\(SwitchProbes.group)/\(SwitchEvent.userReturnEvent)/filter",
                                 "common_pid != 0")
            for event in events {
                try KernelFile.write("\(instance)/events/\(SwitchProbes.group)/\(event)/enable", "1")
            }
        } catch {
            SwitchProbes.removeStale(tracefs: root)
            return nil
        }
        tracesStackChecks = events.contains(SwitchEvent.stackCheckEvent)
    }

    /// A kpatchctl killed while the option is off cannot restore it: this file says it
    /// was on, so the next start (removeStale) turns it back on.
    static let recordCmdMarker = "\(TransitionLog.defaultDirectory)/record-cmd-was-on"

    /// Creates the instance with comm recording off. An instance copies the top-level
    /// `record-cmd` option when it is created (the option is top-level only), and an
    /// event enabled with it on also attaches probes to the sched_switch and
    /// sched_wakeup tracepoints: a code patch of the static branch in __schedule() on
    /// every enable and disable. Under QEMU TCG one such patch livelocked a vCPU in
    /// the int3 handler (docs/RELIABILITY.md). Off in our instance, enabling the probes
    /// touches only their own functions; the top-level option is restored at once.
    private static func makeInstanceWithoutCmdlineRecording(tracefs: String, instance: String) throws {
        let option = "\(tracefs)/options/record-cmd"
        let recording = KernelFile.exists(option) ? try KernelFile.read(option).hasPrefix("1") : false
        if recording {
            try StateFile.replace(recordCmdMarker, with: tracefs + "\n")
            try KernelFile.write(option, "0")
        }
        let made = mkdir(instance, 0o755) == 0 || errno == EEXIST
        let mkdirErrno = errno
        if recording {
            try KernelFile.write(option, "1")
            unlink(recordCmdMarker)
        }
        guard made else { throw KernelFileError(path: instance, operation: "mkdir", errno: mkdirErrno) }
    }

    /// Turns record-cmd back on when a killed kpatchctl left it off.
    private static func restoreCmdlineRecording(tracefs: String) {
        guard KernelFile.exists(recordCmdMarker) else { return }
        do { try KernelFile.write("\(tracefs)/options/record-cmd", "1") } catch { return }   // keep the marker: the next start retries
        unlink(recordCmdMarker)
    }

    /// Appends `p:kpatchctl/<name> <probe>` (or `r:`) to kprobe_events.
    private static func define(tracefs: String, _ name: String, _ probe: String) throws {
        let type = probe.prefix(1)
        try KernelFile.write("\(tracefs)/kprobe_events", "\(type):\(group)/\(name) \(probe.dropFirst(2))\n", append: true)
    }

    /// The events recorded so far (a non-consuming read of the instance buffer).
    public func events() -> [SwitchEvent] {
        guard live, let text = try? KernelFile.read("\(instance)/trace") else { return [] }
        return SwitchEvent.parse(text)
    }

    /// The events of a running apply/revert, read by another process (status).
    public static func recordedEvents(mountPoints: [String] = SwitchProbes.mountPoints) -> [SwitchEvent] {
        for root in mountPoints {
            if let text = try? KernelFile.read("\(root)/instances/\(group)/trace") { return SwitchEvent.parse(text) }
        }
        return []
    }

    /// Disables and removes the events and the instance. Returns what stayed
    /// registered (nil when nothing did).
    @discardableResult
    public func stop() -> String? {
        guard live else { return nil }
        live = false
        return SwitchProbes.removeStale(tracefs: tracefs)
    }

    deinit { stop() }

    /// With tracing off: removes the probes a killed kpatchctl left registered, if any
    /// (nothing is written to tracefs when there are none).
    public static func removeLeftovers(mountPoints: [String] = SwitchProbes.mountPoints) {
        for root in mountPoints where KernelFile.exists("\(root)/instances/\(group)") || definesProbes(tracefs: root)
            || KernelFile.exists(recordCmdMarker) {
            removeStale(tracefs: root)
        }
    }

    /// kprobe_events lists one of ours: a kpatchctl killed after defining its probes
    /// but before it made the instance leaves them without one.
    private static func definesProbes(tracefs: String) -> Bool {
        let text: String
        do { text = try KernelFile.read("\(tracefs)/kprobe_events") } catch { return false }   // no kprobe events: nothing left
        return text.contains(":\(group)/")
    }

    /// Removes what an earlier run (perhaps killed) left behind. Events that were
    /// never defined cannot be disabled or removed, so single writes may fail; what
    /// stays is read back from tracefs: nil when nothing of ours is left, else what is.
    @discardableResult
    static func removeStale(tracefs: String) -> String? {
        let instance = "\(tracefs)/instances/\(group)"
        for event in [SwitchEvent.userReturnEvent, SwitchEvent.stackCheckEvent, SwitchEvent.stackCheckReturnEvent] {
            try? KernelFile.write("\(instance)/events/\(group)/\(event)/enable", "0")
        }
        rmdir(instance)
        for event in [SwitchEvent.userReturnEvent, SwitchEvent.stackCheckEvent, SwitchEvent.stackCheckReturnEvent] {
            try? KernelFile.write("\(tracefs)/kprobe_events", "-:\(group)/\(event)\n", append: true)
        }
        restoreCmdlineRecording(tracefs: tracefs)
        var left: [String] = []
        if KernelFile.isDirectory(instance) { left.append("the tracefs instance \(instance) (rmdir it)") }
        do {
            let events = try KernelFile.read("\(tracefs)/kprobe_events").split(separator: "\n")
                .filter { $0.contains(":\(group)/") }
            if !events.isEmpty {
                left.append("kprobe events \(events.joined(separator: "; ")) in \(tracefs)/kprobe_events "
                    + "(remove each with echo '-:\(group)/NAME' >> \(tracefs)/kprobe_events)")
            }
        } catch {
            left.append("possibly kprobe events \(group)/* (\(tracefs)/kprobe_events could not be read back: \(error))")
        }
        return left.isEmpty ? nil : left.joined(separator: " and ")
    }
}
