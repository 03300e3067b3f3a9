import ArgumentParser
import Foundation
import PatchModel
#if canImport(Glibc)
import Glibc
#endif

/// Runs the differ over pairs of real objects the way one patch build does: set up
/// the target once (symbols, BTF, Module.symvers), then diff every pair. Each
/// repetition starts from nothing, so lazily built indexes are paid in every run.
/// Prints wall and CPU time (min / median / max over the runs) for the setup, each
/// pair and the whole run, input MB/s and peak RSS. Inputs: docs/BENCHMARKS.md.
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

    @Option(name: .customLong("repeat"), help: "Runs (setup and every pair) to time.")
    var repetitions: Int = 3

    @Option(help: "Directory for the patch objects written (none when omitted).")
    var output: String?

    /// Wall and CPU seconds of one timed step.
    struct Sample {
        var wall = 0.0, cpu = 0.0
        static func + (a: Sample, b: Sample) -> Sample { Sample(wall: a.wall + b.wall, cpu: a.cpu + b.cpu) }
    }

    func run() throws {
        let parsed = try pairs.map { pair -> (URL, URL) in
            let parts = pair.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--pair wants ORIGINAL.o:PATCHED.o, got \(pair)") }
            return (URL(fileURLWithPath: parts[0]), URL(fileURLWithPath: parts[1]))
        }
        var setups: [Sample] = [], perPair: [[Sample]] = Array(repeating: [], count: parsed.count), totals: [Sample] = []
        var summaries: [String] = Array(repeating: "", count: parsed.count)
        var setupRSS = 0.0
        for _ in 0..<max(repetitions, 1) {
            var differ: ObjectDiffer?
            let setup = try timed {
                let vmlinuxObject = try ELFObject(path: vmlinux)
                let layout = try SpecialSectionLayout(btf: BTFTypes(object: vmlinuxObject))
                let vmlinuxSymbols = try TargetSymbols(object: vmlinuxObject, objectName: "vmlinux")
                let targetSymbols = object == "vmlinux" ? vmlinuxSymbols
                    : try TargetSymbols(object: try ELFObject(path: target), objectName: object)
                differ = ObjectDiffer(objectName: object, target: targetSymbols, vmlinux: vmlinuxSymbols,
                                      exports: try ModuleSymvers(contentsOf: URL(fileURLWithPath: symvers)), layout: layout)
            }
            setupRSS = max(setupRSS, peakRSSMegabytes())
            var total = setup
            for (i, (original, patched)) in parsed.enumerated() {
                let out = output.map { URL(fileURLWithPath: $0).appendingPathComponent(patched.deletingPathExtension().lastPathComponent + "-patch.o") }
                let sample = try timed { summaries[i] = describe(try differ!.diff(original: original, patched: patched, output: out)) }
                perPair[i].append(sample)
                total = total + sample
            }
            setups.append(setup)
            totals.append(total)
        }
        let runs = max(repetitions, 1)
        print("\(runs) runs; wall and CPU seconds as min / median / max")
        print("setup (open the target, BTF layout, Module.symvers; symbol indexes are built on first use): \(spread(setups))")
        var totalBytes = 0.0
        for (i, (original, patched)) in parsed.enumerated() {
            let bytes = Double(try fileSize(original) + fileSize(patched))
            totalBytes += bytes
            let median = perPair[i].map(\.wall).sorted()[runs / 2]
            print(String(format: "%@: input %.2f MB, %@, %.1f MB/s at the median, %@", patched.lastPathComponent,
                         bytes / 1e6, spread(perPair[i]), bytes / 1e6 / median, summaries[i]))
        }
        print("run (setup and every pair): \(spread(totals))")
        let rss = peakRSSMegabytes()
        print(String(format: "input %.2f MB; peak RSS %.1f MB (%.1f MB after the first setup) = %.2fx the total input",
                     totalBytes / 1e6, rss, setupRSS, rss / (totalBytes / 1e6)))
    }

    private func timed(_ body: () throws -> Void) rethrows -> Sample {
        let wall = Date(), cpu = cpuSeconds()
        try body()
        return Sample(wall: Date().timeIntervalSince(wall), cpu: cpuSeconds() - cpu)
    }

    private func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private func spread(_ samples: [Sample]) -> String {
        func three(_ values: [Double]) -> String {
            let v = values.sorted()
            return String(format: "%.3f / %.3f / %.3f", v[0], v[v.count / 2], v[v.count - 1])
        }
        return "wall \(three(samples.map(\.wall))) s, CPU \(three(samples.map(\.cpu))) s"
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
}
