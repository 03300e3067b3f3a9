import ArgumentParser
import FoundationEssentials
import PatchCore

/// `kpatchctl kthreads`: the live kernel threads, their thread functions, and
/// whether the livepatch consistency model can switch them between work items.
struct Kthreads: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List live kernel threads with their thread function, converted or not.",
        discussion: """
            A kthread is converted when its thread function returns to a generic loop between \
            work items (workqueue workers: worker_thread, rescuer_thread; kthread workers: \
            kthread_worker_fn). Any other kthread switches to a patch only when no patched \
            function is on its stack, so `apply` refuses patches it can reach. The thread \
            function is the frame below `kthread` in /proc/PID/stack (needs root); it is \
            "unknown" when the stack does not show it.
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
        print(pad("PID", 7), pad("COMM", commWidth), pad("ENTRY", entryWidth), "KIND")
        for thread in threads {
            let kind = thread.entry == nil ? "unknown" : thread.converted ? "converted" : "unconverted"
            print(pad(String(thread.pid), 7), pad(thread.comm, commWidth), pad(thread.entry ?? "?", entryWidth), kind)
        }
        let unconverted = threads.filter { !$0.converted && $0.entry != nil }.count
        print("\(threads.count) kthreads: \(threads.filter(\.converted).count) converted, \(unconverted) unconverted, "
              + "\(threads.filter { $0.entry == nil }.count) with unknown entry")
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
