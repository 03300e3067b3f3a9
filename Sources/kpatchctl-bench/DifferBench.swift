import ArgumentParser
import Foundation
import PatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Runs the differ over pairs of real objects and prints input MB, wall time,
/// MB/s and peak RSS. Inputs are prepared as docs/BENCHMARKS.md describes.
struct DifferBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "differ",
        abstract: "Time ObjectDiffer on pairs of original/patched objects of one target.")

    @Option(name: .customLong("pair"), help: "ORIGINAL.o:PATCHED.o (repeatable).")
    var pairs: [String]

    @Option(help: "The livepatch object name: vmlinux or a module name.")
    var object: String = "vmlinux"

    @Option(help: "The target's symbol table: the module .ko, or the debug vmlinux.")
    var target: String

    @Option(help: "The debug vmlinux (BTF for special-section layout; symbols for module targets).")
    var vmlinux: String

    @Option(help: "The target kernel's Module.symvers.")
    var symvers: String

    @Option(name: .customLong("repeat"), help: "Diff every pair this many times.")
    var repetitions: Int = 3

    @Option(help: "Directory for the patch objects written (none when omitted).")
    var output: String?

    func run() throws {
        let setupStart = Date()
        let vmlinuxObject = try ELFObject(path: vmlinux)
        let layout = try SpecialSectionLayout(btf: BTFTypes(object: vmlinuxObject))
        let vmlinuxSymbols = try TargetSymbols(object: vmlinuxObject, objectName: "vmlinux")
        let targetSymbols = object == "vmlinux" ? vmlinuxSymbols
            : try TargetSymbols(object: try ELFObject(path: target), objectName: object)
        let differ = ObjectDiffer(objectName: object, target: targetSymbols, vmlinux: vmlinuxSymbols,
                                  exports: try ModuleSymvers(contentsOf: URL(fileURLWithPath: symvers)), layout: layout)
        let setup = Date().timeIntervalSince(setupStart)
        let setupRSS = peakRSSMegabytes()
        print(String(format: "setup (target symbols, BTF, Module.symvers): %.3f s, peak RSS %.1f MB", setup, setupRSS))

        var totalBytes = 0.0, totalSeconds = 0.0
        for pair in pairs {
            let parts = pair.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--pair wants ORIGINAL.o:PATCHED.o, got \(pair)") }
            let original = URL(fileURLWithPath: parts[0]), patched = URL(fileURLWithPath: parts[1])
            let bytes = Double(try fileSize(original) + fileSize(patched))
            let out = output.map { URL(fileURLWithPath: $0).appendingPathComponent(patched.deletingPathExtension().lastPathComponent + "-patch.o") }
            var best = Double.infinity
            var summary = ""
            for _ in 0..<max(repetitions, 1) {
                let start = Date()
                let outcome = try differ.diff(original: original, patched: patched, output: out)
                best = min(best, Date().timeIntervalSince(start))
                summary = describe(outcome)
            }
            totalBytes += bytes
            totalSeconds += best
            print(String(format: "%@: input %.2f MB, best of %d %.3f s, %.1f MB/s, %@", patched.lastPathComponent,
                         bytes / 1e6, max(repetitions, 1), best, bytes / 1e6 / best, summary))
        }
        let rss = peakRSSMegabytes()
        print(String(format: "total: input %.2f MB, %.3f s, %.1f MB/s", totalBytes / 1e6, totalSeconds, totalBytes / 1e6 / totalSeconds))
        print(String(format: "peak RSS %.1f MB = %.2fx the total input; growth over setup %.1f MB = %.2fx the largest pair's input",
                     rss, rss / (totalBytes / 1e6), rss - setupRSS, (rss - setupRSS) / (try largestPair() / 1e6)))
    }

    private func describe(_ outcome: DiffOutcome) -> String {
        switch outcome {
        case .noChange: return "no change"
        case .refused(let r): return "refused (\(r.count))"
        case .changed(let plan): return "changed: \(plan.replaced.count) replaced, \(plan.newSymbols.count) new, \(plan.klpSymbols.count) klp symbols"
        }
    }

    private func fileSize(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
    }

    private func largestPair() throws -> Double {
        try pairs.map { pair -> Double in
            let parts = pair.split(separator: ":", maxSplits: 1).map { URL(fileURLWithPath: String($0)) }
            return Double(try parts.reduce(0) { $0 + (try fileSize($1)) })
        }.max() ?? 1
    }
}
