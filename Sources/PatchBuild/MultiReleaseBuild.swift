import Dispatch
import FoundationEssentials
import Glibc
import Interruption
import PatchModel
import Synchronization

/// One release's line in a multi-release build.
public struct ReleaseBuildOutcome: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// NAME-RELEASE.ko was written.
        case built
        /// The build decided it cannot patch this release (a refusal, nothing to patch,
        /// no change, a diff that does not apply, another compiler).
        case refused
        /// An input or tool was missing or failed (headers, debug vmlinux, make).
        case failed
    }
    public let release: String
    public let status: Status
    /// The module written, when built.
    public let output: String?
    /// Functions the patch replaces (0 unless built).
    public let functions: Int
    public let seconds: Double
    /// The first line of the error: the table's reason column.
    public let reason: String?
    /// The whole error text.
    public let error: String?
    /// The build's own result, as `build --json` gives it for one release.
    public let result: BuildResult?
}

/// What `build --kernel R1 --kernel R2 ...` produced.
public struct MultiReleaseBuildResult: Codable, Sendable {
    public let patchName: String
    public let diffSHA256: String
    public let outputDirectory: String
    /// How many releases were built at once.
    public let parallelism: Int
    /// In the order the releases were given.
    public let releases: [ReleaseBuildOutcome]
    public let seconds: Double

    public var built: [ReleaseBuildOutcome] { releases.filter { $0.status == .built } }
}

/// One diff for many kernel releases: each release's `BuildRequest` (its own
/// headers, debug vmlinux, source, cache under the shared root) runs through the
/// ordinary single-release `PatchBuildPipeline`, several at once as cores and
/// memory allow. The diff is read and hashed once; a release that is refused or
/// fails is reported and the others go on. Each module is written as
/// `DIR/NAME-RELEASE.ko`; a module of an earlier run for a release that is not
/// built now is removed, so the directory never offers a stale patch.
public struct MultiReleaseBuild {
    public let requests: [BuildRequest]
    public let outputDirectory: URL
    public let parallelism: Int

    /// Memory one release's build may take at its peak (gcc on a large object, the
    /// debug vmlinux's symbols): measured below 1.5 GiB on 6.1, with room to spare.
    public static let memoryPerBuild: UInt64 = 2 << 30

    /// `requests` share the diff, the patch name and the target kind; they differ in
    /// their release and its inputs. `parallelism` nil: `defaultParallelism`.
    public init(requests: [BuildRequest], outputDirectory: URL, parallelism: Int? = nil) throws {
        guard let first = requests.first else { throw BuildError.verification("no kernel release to build for") }
        let releases = requests.map(\.kernelRelease)
        if let twice = releases.first(where: { r in releases.filter { $0 == r }.count > 1 }) {
            throw BuildError.verification("release \(twice) is given twice: each release is built once")
        }
        for request in requests where request.diffFile != first.diffFile || request.patchName != first.patchName {
            throw BuildError.verification("every release must build the same diff under the same name")
        }
        self.requests = requests
        self.outputDirectory = outputDirectory
        self.parallelism = max(1, min(parallelism ?? MultiReleaseBuild.defaultParallelism(), requests.count))
    }

    /// As many builds as there are online cores, and no more than the available
    /// memory holds at `memoryPerBuild` each; at least one.
    public static func defaultParallelism() -> Int {
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let byMemory = availableMemory().map { Int($0 / memoryPerBuild) } ?? cores
        return max(1, min(cores, byMemory))
    }

    /// MemAvailable from /proc/meminfo (free memory plus what the page cache would give back).
    static func availableMemory() -> UInt64? {
        let text: String
        do { text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8) } catch { return nil }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) else { return nil }
        return kib * 1024
    }

    /// The module file for `release`.
    public func outputPath(patchName: String, release: String) -> URL {
        outputDirectory.appendingPathComponent("\(patchName)-\(release).ko")
    }

    /// Builds every release; `progress` gets each build's events with its release
    /// (from several threads at once). Throws only what stops every release: the
    /// diff cannot be read, the name is not a module name, the directory cannot be
    /// made, or SIGINT/SIGTERM (`BuildError.interrupted`).
    public func run(progress: @escaping @Sendable (String, BuildEvent) -> Void = { _, _ in }) throws -> MultiReleaseBuildResult {
        let started = Date()
        let first = requests[0]
        let diff = try first.diff ?? SourceDiff.read(first.diffFile)
        let name = try BuildRequest.checkedPatchName(first.patchName, diff: first.diffFile)
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let prepared: [BuildRequest] = requests.map { request in
            var request = request
            request.diff = diff
            request.patchName = name
            request.output = outputPath(patchName: name, release: request.kernelRelease)
            return request
        }
        let slots = Mutex<[Int: ReleaseBuildOutcome]>([:])
        let next = Atomic<Int>(0)
        let workers = parallelism
        DispatchQueue.concurrentPerform(iterations: workers) { @Sendable _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < prepared.count else { return }
                let outcome = MultiReleaseBuild.build(prepared[index], progress: progress)
                slots.withLock { $0[index] = outcome }
            }
        }
        let outcomes = slots.withLock { done in prepared.indices.map { done[$0]! } }
        if let signal = Interruption.receivedSignal { throw BuildError.interrupted(signal: signal) }
        return MultiReleaseBuildResult(patchName: name, diffSHA256: diff.sha256, outputDirectory: outputDirectory.path,
                                       parallelism: workers, releases: outcomes,
                                       seconds: Date().timeIntervalSince(started))
    }

    private static func build(_ request: BuildRequest, progress: @escaping @Sendable (String, BuildEvent) -> Void)
        -> ReleaseBuildOutcome
    {
        let started = Date()
        let release = request.kernelRelease
        do {
            let result = try PatchBuildPipeline(request: request, progress: { progress(release, $0) }).build()
            return ReleaseBuildOutcome(release: release, status: .built, output: result.output, functions: result.functions.count,
                                       seconds: Date().timeIntervalSince(started), reason: nil, error: nil, result: result)
        } catch {
            // Nothing of an earlier run may pass for this one's module.
            if let output = request.output {
                unlink(output.path)
                unlink(PatchAssembler.symversFile(for: output).path)
            }
            let text = "\(error)"
            return ReleaseBuildOutcome(release: release, status: isRefusal(error) ? .refused : .failed, output: nil, functions: 0,
                                       seconds: Date().timeIntervalSince(started),
                                       reason: String(text.split(separator: "\n").first ?? ""), error: text, result: nil)
        }
    }

    /// The build looked at the release and decided: not a missing input or a broken tool.
    static func isRefusal(_ error: Error) -> Bool {
        switch error as? BuildError {
        case .refused?, .nothingToPatch?, .noChange?, .diffDoesNotApply?, .diffTouchesNothingBuilt?, .compilerUnavailable?:
            return true
        default:
            return false
        }
    }
}
