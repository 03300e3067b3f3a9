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
    @Option(name: .customLong("kernel-headers"), help: "The target's Kbuild tree (default: /usr/src/linux-headers-RELEASE).") var headers: String?
    @Option(help: "The kernel source tarball or directory (default: /usr/src/linux-source-X.Y.tar.xz).") var source: String?
    @Option(help: "Where the release's packages and build root are (a kernel this machine has no packages of).") var packages: String?
    @Option(name: .customLong("link-with"), help: "recorded-commands (default) or make.") var linkWith: String?

    func run() throws {
        let cacheURL = URL(fileURLWithPath: cache)
        if !prepared, let items = try? FileManager.default.contentsOfDirectory(atPath: cacheURL.path), !items.isEmpty {
            throw ValidationError("\(cache) is not empty: the first build must prepare the tree from scratch")
        }
        var linker: PatchModuleLinker?
        if let linkWith {
            guard let chosen = PatchModuleLinker(rawValue: linkWith) else { throw ValidationError("--link-with: recorded-commands or make") }
            linker = chosen
        }
        var walls: [Double] = []
        var stageTimes: [String: [Double]] = [:]
        var order: [String] = []
        func build(_ label: String) throws -> BuildResult {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-build-bench.ko")
            let options = KernelTargetOptions(source: source.map { URL(fileURLWithPath: $0) }, modulesDir: modulesDir.map { URL(fileURLWithPath: $0) })
            var request = BuildRequest(
                target: .kernel(options), diffFile: URL(fileURLWithPath: diff), kernelRelease: kernel,
                headers: headers.map { URL(fileURLWithPath: $0) }, vmlinux: URL(fileURLWithPath: vmlinux),
                output: out, cache: BuildCache(root: cacheURL), templateDir: URL(fileURLWithPath: kmod), toolVersion: "bench")
            request.packages = packages.map { URL(fileURLWithPath: $0) }
            request.linker = linker
            let start = Date()
            let result = try PatchBuildPipeline(request: request).build()
            let wall = Date().timeIntervalSince(start)
            let stages = result.stages.map { "\($0.stage.rawValue) \(String(format: "%.2f", $0.seconds))" }.joined(separator: ", ")
            print(String(format: "%@: %.1f s (%@; linked with %@)", label, wall, stages, result.linker.rawValue))
            try? FileManager.default.removeItem(at: out)
            return result
        }
        if !prepared { _ = try build("first build, empty cache (prepares the tree)") }
        for i in 1...max(builds, 1) {
            let start = Date()
            let result = try build("build \(i) from the prepared cache")
            walls.append(Date().timeIntervalSince(start))
            for stage in result.stages {
                if stageTimes[stage.stage.rawValue] == nil { order.append(stage.stage.rawValue) }
                stageTimes[stage.stage.rawValue, default: []].append(stage.seconds)
            }
        }
        func summary(_ values: [Double]) -> String {
            let sorted = values.sorted()
            return String(format: "%.2f / %.2f / %.2f", sorted.first ?? 0, sorted[sorted.count / 2], sorted.last ?? 0)
        }
        print("min / median / max over \(walls.count) builds: wall \(summary(walls)) s")
        for stage in order { print("  \(stage): \(summary(stageTimes[stage] ?? []))") }
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
