import ArgumentParser
import FoundationEssentials
import PatchModel
import KthreadSafety
import KernelRuntime

/// `kpatchctl kthreads`: the live kernel threads, their thread functions, and
/// whether the livepatch consistency model can switch them between work items.
struct Kthreads: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List live kernel threads: thread function, converted or not, and why.",
        discussion: """
            A kthread is converted when its thread function is generic dispatch code that \
            returns, between units of work, to a point holding no patched state: worker_thread, \
            rescuer_thread, kthread_worker_fn, smpboot_thread_fn, irq_thread, kthreadd \
            (docs/KTHREAD-SAFETY.md gives each reason). Any other kthread is unconverted: apply \
            refuses patches its loop reaches. RESIDENT lists the frames that stay on its stack \
            while it waits between units of work; apply refuses a patch replacing one, for every \
            kthread. The thread function is the frame below `kthread` in /proc/PID/stack (needs \
            root); it is unknown when the stack does not show it, and the reason says why.
            """)

    @Flag(help: "Print JSON.") var json = false
    @Option(help: ArgumentHelp("The proc mount to read.", valueName: "dir")) var proc = "/proc"

    func run() throws {
        let threads: [LiveKthread]
        do { threads = try ProcKthreads.read(procRoot: URL(fileURLWithPath: proc)) } catch {
            throw fail(error, code: .failure, json: json)
        }
        if json { return try KthreadJSON.print(threads) }
        let commWidth = threads.map(\.comm.count).max() ?? 4, entryWidth = threads.map { $0.entry?.count ?? 1 }.max() ?? 5
        print(pad("PID", 7), pad("COMM", commWidth), pad("ENTRY", entryWidth), pad("KIND", 11), "RESIDENT / WHY")
        for thread in threads {
            let resident = thread.residentFrames.map(\.function).filter { $0 != "kthread" && !$0.hasPrefix("ret_from_fork") }
            print(pad(String(thread.pid), 7), pad(thread.comm, commWidth), pad(thread.entry ?? "?", entryWidth),
                  pad(thread.conversion.kind.rawValue, 11),
                  (resident.isEmpty ? "" : resident.joined(separator: ",") + " / ") + thread.conversion.reason)
        }
        let count = { (kind: KthreadConversion.Kind) in threads.filter { $0.conversion.kind == kind }.count }
        print("\(threads.count) kthreads: \(count(.converted)) converted, \(count(.unconverted)) unconverted, "
              + "\(count(.unknown)) with unknown entry")
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

/// JSON output of the kthread-safety commands: sorted keys, as every `--json`.
enum KthreadJSON {
    static func print<Value: Encodable>(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
