import ArgumentParser
import Foundation
import PatchBuild
import PatchModel
import KthreadSafety

/// The false-refusal figure: builds each kernel diff and evaluates its kthread
/// analysis against a snapshot of live kthreads (`kpatchctl kthreads --json` taken
/// in the pinned kernel), with today's rules and with the round-1 rule (only
/// workqueue and kthread workers converted; any kthread asleep in a replaced
/// function refused). Prints one Markdown table row per diff: the verdict, the
/// rule that decided it (resident, unconverted-reachable, unknown-entry, none;
/// for none, the kthreads that reach only functions passing nothing back) and
/// the kthreads named.
struct KthreadSurveyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kthread-survey",
        abstract: "Kthread-safety verdicts for a list of kernel diffs, today's rules against round 1's.")

    @Argument(help: "Kernel diffs for the pinned kernel; with --analysis-only, NAME=FUNCTION[,FUNCTION...] of vmlinux.")
    var diffs: [String]
    @Flag(help: "Do not build: analyse the named vmlinux functions as the build's kthread-analysis stage does.")
    var analysisOnly = false
    @Option(help: "`kpatchctl kthreads --json` output taken in the target kernel.") var kthreads: String
    @Option(help: "Target kernel release.") var kernel: String
    @Option(help: "The target's debug vmlinux.") var vmlinux: String
    @Option(help: "The build cache (with the prepared kernel tree).") var cache: String
    @Option(help: "The target's modules directory (lib/modules/RELEASE).") var modulesDir: String?
    @Option(help: "Debug builds of the target's modules (for their call graphs).") var modulesDebugDir: String?
    @Option(help: "The patch-module template directory (kmod/).") var kmod: String = "kmod"
    @Flag(help: "After each row, the path of every refusal and note.") var paths = false

    /// The fields of a `kpatchctl kthreads --json` entry the survey replays.
    private struct SnapshotKthread: Decodable {
        let pid: Int
        let comm: String
        let stack: [StackFrame]
    }

    func run() throws {
        let snapshot = try JSONDecoder().decode([SnapshotKthread].self, from: Data(contentsOf: URL(fileURLWithPath: kthreads)))
        let live = snapshot.map { LiveKthread(pid: $0.pid, comm: $0.comm, stack: $0.stack) }
        print("\(live.count) kthreads in \(kthreads)")
        print("| diff | replaced | verdict | deciding rule | kthreads named | strict would add | round-1 verdict (kthreads named) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        var refusedBefore = 0, refusedNow = 0, kthreaddOnly = 0
        for diff in diffs {
            let name: String
            let functions: [ReplacedFunction]
            let reach: [KthreadReachability]
            do {
                if analysisOnly {
                    let parts = diff.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { throw ValidationError("\(diff): expected NAME=FUNCTION[,FUNCTION...]") }
                    name = parts[0]
                    functions = parts[1].split(separator: ",").map { ReplacedFunction(object: "vmlinux", name: String($0), sympos: 0, newSymbol: "klp_" + $0) }
                    reach = try analyse(functions).map { try KthreadReachability(decoding: $0) }
                } else {
                    name = URL(fileURLWithPath: diff).deletingPathExtension().lastPathComponent
                    let meta = try build(diff)
                    functions = meta.functions
                    reach = try meta.kthreadReachability.map { try KthreadReachability(decoding: $0) }
                }
            } catch {
                print("| \(diff) | failed: \(String(describing: error).split(separator: "\n").first ?? "") | | | | | |")
                continue
            }
            let report = KthreadSafetyCheck(replaced: functions, reachabilities: reach).evaluate(live)
            let before = Self.roundOneRefusals(live, replaced: functions, reachabilities: reach)
            let rule = report.unanalysed.first { $0.allowedBy == nil }.map { _ in "unanalysed" }
                ?? report.refusals.first.map { Self.ruleName($0.reason) }
                ?? report.notes.first.map { "none (\(Self.ruleName($0.reason)): \(Self.list(Set(report.notes.map(\.comm)).sorted())))" }
                ?? "none"
            let named = Set(report.refusals.map(\.comm)).sorted()
            if !before.isEmpty { refusedBefore += 1 }
            if !report.safe { refusedNow += 1 }
            if before == ["kthreadd"] { kthreaddOnly += 1 }
            let replaced = functions.map(\.name).joined(separator: ", ")
            let strict = Set(report.strictWouldRefuse.map(\.comm)).sorted()
            print("| \(name) | \(replaced) | \(report.safe ? "applies" : "refused") | \(rule) | \(Self.list(named)) | "
                  + "\(Self.list(strict)) | \(before.isEmpty ? "applies" : "refused (\(Self.list(before)))") |")
            if paths {
                for object in report.unanalysed { print("    refused: \(object.object): no reachability record") }
                for finding in report.refusals + report.notes {
                    let kind = finding.reason == .reachesFunctionPassingNothingBack
                        ? "note (stops at \(finding.nothingComesBackThrough ?? finding.path.last?.name ?? "?"))" : "refused"
                    print("    \(kind): \(finding.comm): "
                          + (finding.frame.map { "frame \($0)" } ?? finding.path.map(\.name).joined(separator: " -> "))
                          + (finding.sharedData.map { " [data: \($0)]" } ?? ""))
                }
                for finding in report.strictWouldRefuse {
                    print("    strict: \(finding.comm): " + finding.path.map(\.name).joined(separator: " -> "))
                }
            }
        }
        print("\(diffs.count) diffs: refused \(refusedNow) now, \(refusedBefore) by round 1's rule "
              + "(\(kthreaddOnly) of them only because of kthreadd)")
    }

    /// The kthread-analysis stage alone, on the debug vmlinux (graph and resume points cached in --cache/callgraph).
    private func analyse(_ functions: [ReplacedFunction]) throws -> [[UInt8]] {
        let cacheDir = URL(fileURLWithPath: cache).appendingPathComponent("callgraph")
        let resume = KthreadResumeAnalysis(vmlinux: vmlinux, cacheDirectory: cacheDir)
        let blobs = try KthreadAnalysis.analyse(functions: functions, graphs: ["vmlinux": { try CallGraphCache.graph(for: vmlinux, cacheDirectory: cacheDir) }],
                                                resume: ["vmlinux": resume], code: ["vmlinux": { try DataAccessReader(path: vmlinux) }]).blobs
        try resume.save()
        return blobs
    }

    private func build(_ diff: String) throws -> PatchMetadata {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kthread-survey-\(getpid()).ko")
        defer { try? FileManager.default.removeItem(at: out) }
        let request = BuildRequest(
            target: .kernel(KernelTargetOptions(modulesDir: modulesDir.map { URL(fileURLWithPath: $0) },
                                                modulesDebugDir: modulesDebugDir.map { URL(fileURLWithPath: $0) })),
            diffFile: URL(fileURLWithPath: diff), kernelRelease: kernel, vmlinux: URL(fileURLWithPath: vmlinux),
            output: out, cache: BuildCache(root: URL(fileURLWithPath: cache)),
            templateDir: URL(fileURLWithPath: kmod), toolVersion: "bench")
        _ = try PatchBuildPipeline(request: request).build()
        return try KernelModuleFile(path: out.path).patchMetadata()
    }

    private static func ruleName(_ reason: KthreadFinding.Reason) -> String {
        switch reason {
        case .resident: return "resident"
        case .reachesPatchedFunction: return "unconverted-reachable"
        case .unknownEntryInPatchedFunction: return "unknown-entry"
        case .reachesFunctionPassingNothingBack: return "passes-nothing-back"
        }
    }

    private static func list(_ comms: [String]) -> String {
        comms.count <= 4 ? comms.joined(separator: ", ") : comms.prefix(4).joined(separator: ", ") + " +\(comms.count - 4)"
    }

    /// Round 1's rule: converted = workqueue workers and kthread workers only;
    /// refused when an unconverted entry reaches a replaced function or any
    /// kthread has one on its stack. The comms it names.
    static func roundOneRefusals(_ threads: [LiveKthread], replaced: [ReplacedFunction],
                                 reachabilities: [KthreadReachability]) -> [String] {
        let converted: Set<String> = ["worker_thread", "rescuer_thread", "kthread_worker_fn"]
        let check = KthreadSafetyCheck(replaced: replaced, reachabilities: reachabilities)
        return Set(threads.filter { thread in
            if thread.stack.contains(where: check.isReplaced) { return true }
            guard let entry = thread.entry, !converted.contains(entry) else { return false }
            return reachabilities.contains { $0.shortestPath(fromFunctionNamed: entry) != nil }
        }.map(\.comm)).sorted()
    }
}
