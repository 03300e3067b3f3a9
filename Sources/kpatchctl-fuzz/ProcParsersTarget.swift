import PatchModel
import KernelRuntime

/// The input is the text of a /proc, sysfs or tracefs file, given to every parser
/// of such text: /proc/PID/stat, /proc/PID/stack, patch_state, a livepatch
/// function's sysfs directory name, and the switch probes' trace buffer.
struct ProcParsersTarget: FuzzTarget {
    func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            _ = try ProcStat(parsing: text)
        } catch is ProcParseError {
        } catch {
            fatalError("untyped error: \(type(of: error)): \(error)")
        }
        _ = ProcStack.parse(text)
        _ = PatchState(text: text)
        _ = LivepatchFunction(directoryName: text)
        let events = SwitchEvent.parse(text)
        _ = SwitchEvent.switches(events)
        _ = SwitchEvent.lastStackChecks(events)
    }
}
