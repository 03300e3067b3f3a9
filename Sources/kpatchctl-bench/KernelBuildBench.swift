import ArgumentParser
import Foundation
import PatchBuild

/// Times `kpatchctl build` of a vmlinux diff: once into an empty cache (the
/// one-time tree preparation included), then again from the prepared cache, and
/// prints the stages and the cache's size on disk.
struct KernelBuildBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel-build",
        abstract: "Time a vmlinux patch build: one-time tree preparation, then a build from the prepared cache.")

    @Argument(help: "The kernel diff (e.g. examples/vmlinux/cmdline.diff).") var diff: String
    @Option(help: "Target kernel release.") var kernel: String
    @Option(help: "The target's debug vmlinux.") var vmlinux: String
    @Option(help: "An empty (or absent) cache directory to prepare.") var cache: String
    @Option(help: "The patch-module template directory (kmod/).") var kmod: String = "kmod"
    @Option(name: .customLong("builds"), help: "Builds from the prepared cache.") var builds: Int = 3
    @Option(name: .customLong("modules-dir"), help: "The target's /lib/modules/RELEASE (default: the running system's).") var modulesDir: String?
    @Flag(help: "Use an already prepared cache: skip the first build into an empty one.") var prepared = false

    func run() throws {
        let cacheURL = URL(fileURLWithPath: cache)
        if !prepared, let items = try? FileManager.default.contentsOfDirectory(atPath: cacheURL.path), !items.isEmpty {
            throw ValidationError("\(cache) is not empty: the first build must prepare the tree from scratch")
        }
        func build(_ label: String) throws -> BuildResult {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-build-bench.ko")
            let request = BuildRequest(
                target: .kernel(KernelTargetOptions(modulesDir: modulesDir.map { URL(fileURLWithPath: $0) })),
                diffFile: URL(fileURLWithPath: diff), kernelRelease: kernel, vmlinux: URL(fileURLWithPath: vmlinux),
                output: out, cache: BuildCache(root: cacheURL), templateDir: URL(fileURLWithPath: kmod), toolVersion: "bench")
            let start = Date()
            let result = try PatchBuildPipeline(request: request).build()
            let stages = result.stages.map { "\($0.stage.rawValue) \(String(format: "%.2f", $0.seconds))" }.joined(separator: ", ")
            print(String(format: "%@: %.1f s (%@)", label, Date().timeIntervalSince(start), stages))
            try? FileManager.default.removeItem(at: out)
            return result
        }
        if !prepared { _ = try build("first build, empty cache (prepares the tree)") }
        for i in 1...max(builds, 1) { _ = try build("build \(i) from the prepared cache") }
        if !prepared { print("cache size on disk: \(try diskUsage(cacheURL)) MB (\(cache))") }
    }

    /// `du -sm`, in MB.
    private func diskUsage(_ url: URL) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        process.arguments = ["-sm", url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return Int(text.split(separator: "\t").first ?? "") ?? -1
    }
}
