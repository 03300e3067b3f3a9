import FoundationEssentials
import Glibc
import PatchModel

/// How long compiling kernel objects takes on this machine, to predict a build's time
/// from its object count before anything is compiled. The rate (seconds of one job per
/// object) is learnt from the last compile of at least `minimumSample` objects in this
/// tree (`<cache>/kernels/<release>/compile-rate`, written atomically); until then the
/// default, measured with Debian 12's 6.1 tree and gcc-12 on a 2-core VM of this project
/// (docs/BENCHMARKS.md, "Wide headers").
struct CompileEstimate {
    static let defaultSecondsPerObject = 2.6
    static let minimumSample = 8
    let file: URL
    let jobs: Int

    init(tree: KernelSourceTree) {
        file = tree.dir.deletingLastPathComponent().appendingPathComponent("compile-rate")
        jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    var secondsPerObject: Double {
        // No rate learnt yet (or an unreadable one): the default.
        guard FileManager.default.fileExists(atPath: file.path),
              let text = try? String(contentsOf: file, encoding: .utf8),
              let rate = Double(text.trimmingCharacters(in: [" ", "\n"])), rate > 0 else {
            return Self.defaultSecondsPerObject
        }
        return rate
    }

    /// The predicted wall time of compiling `objects` objects with `jobs` jobs.
    func seconds(objects: Int) -> Double { Double(objects) * secondsPerObject / Double(jobs) }

    /// Learns from a compile of `objects` objects that took `seconds`.
    func record(objects: Int, seconds: Double) {
        guard objects >= Self.minimumSample else { return }
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".compile-rate-\(getpid())")
        // An estimate only: a rate that cannot be written leaves the previous one.
        guard (try? Data("\(seconds * Double(jobs) / Double(objects))\n".utf8).write(to: temporary)) != nil else { return }
        if rename(temporary.path, file.path) != 0 { unlink(temporary.path) }
    }

    /// "2 min 10 s", "40 s".
    static func describe(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s < 60 ? "\(s) s" : s < 3600 ? "\(s / 60) min \(s % 60) s" : "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
