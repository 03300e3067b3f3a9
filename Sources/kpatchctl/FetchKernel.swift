import ArgumentParser
import FoundationEssentials
import PatchBuild

/// `kpatchctl fetch-kernel`: what `build --kernel RELEASE` fetches and makes when it is
/// missing, done ahead (scripts/setup --kernel-6.12 provisions CI with it).
struct FetchKernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-kernel",
        abstract: "Fetch a Debian kernel release's packages and make its build root, as build does when they are missing.",
        discussion: """
            The suite follows from the release (6.1.0-N: bookworm, +deb12: bookworm-backports, \
            +deb13: trixie). Packages come through a private apt configuration under the package \
            directory and are unpacked there, never installed. Always the headers (with their \
            -common and linux-kbuild); --image, --dbg, --source add the others. With --toolchain, \
            the kernel's compiler is checked and, when this machine lacks it, the build root of the \
            release is made (mmdebstrap, as root).
            """)

    @Argument(help: "The kernel release (uname -r), e.g. 6.12.117+deb13-amd64.") var release: String
    @Option(help: "The exact package version (default: the archive's).") var version: String?
    @Option(help: "Package directory (default: $KPATCHCTL_PACKAGES, else the cache directory).") var packages: String?
    @Option(help: "Cache directory, the default package directory (default: $KPATCHCTL_CACHE or ~/.cache/kpatchctl).") var cache: String?
    @Flag(help: "Also linux-image-RELEASE (vmlinuz and modules).") var image = false
    @Flag(help: "Also the debug vmlinux of linux-image-RELEASE-dbg (the package itself is not kept).") var dbg = false
    @Option(name: .customLong("debug-module"), help: "With --dbg: also keep this debug module (path below lib/modules/RELEASE; repeatable).")
    var debugModules: [String] = []
    @Flag(help: "Also linux-source-X.Y (the tarball).") var source = false
    @Flag(help: "Select the toolchain from the headers' config; make the build root when this machine lacks the compiler.")
    var toolchain = false
    @Flag(help: "Print the result as JSON (progress goes to stderr).") var json = false

    struct Report: Encodable {
        let release: String
        let suite: String
        let distribution: String
        let packages: String
        let headers: String
        let image: String?
        let debugVmlinux: String?
        let source: String?
        let toolchain: String?
        /// Seconds per step: fetch, toolchain (with the build root when it was made).
        let seconds: [String: Double]
    }

    func run() throws {
        let cacheRoot = BuildCache(root: cache.map { URL(fileURLWithPath: $0) } ?? BuildCache.defaultRoot)
        let store = KernelPackageStore(root: packages.map { URL(fileURLWithPath: $0) } ?? KernelPackageStore.defaultRoot(cache: cacheRoot))
        let note = { (text: String) in printError("[fetch-kernel] \(text)") }
        do {
            let kernel = try DebianKernelRelease.parse(release, version: version)
            var parts: Set<KernelPackageStore.Part> = [.headers]
            if image { parts.insert(.image) }
            if dbg { parts.insert(.debug) }
            if source { parts.insert(.source) }
            var seconds: [String: Double] = [:]
            var start = Date()
            try store.fetch(kernel, version: version, parts: parts, debugModules: debugModules, note: note)
            seconds["fetch"] = Date().timeIntervalSince(start)
            var chosen: Toolchain?
            if toolchain {
                start = Date()
                chosen = try Toolchain.select(config: store.headers(release).appendingPathComponent(".config"), release: release,
                                              store: store, binds: [store.root, cacheRoot.root], note: note)
                seconds["toolchain"] = Date().timeIntervalSince(start)
            }
            let report = Report(
                release: release, suite: kernel.suite, distribution: kernel.distribution, packages: store.root.path,
                headers: store.headers(release).path, image: image ? store.modulesDir(release).path : nil,
                debugVmlinux: dbg ? store.debugVmlinux(release).path : nil,
                source: source ? store.sourceTarball(kernel).path : nil, toolchain: chosen?.description, seconds: seconds)
            if json { return printJSON(report) }
            print("kernel \(release): \(kernel.suite), packages in \(store.kernelDir(release).path)")
            if let chosen { print("toolchain: \(chosen.description)") }
            print("seconds: " + seconds.sorted { $0.key < $1.key }.map { "\($0.key) \(fixed($0.value, 1))" }.joined(separator: ", "))
        } catch {
            let code: KpatchctlExit
            switch error as? BuildError {
            case .unknownRelease?, .notInArchive?, .compilerUnavailable?: code = .kernelUnavailable
            default: code = .failure
            }
            throw fail(error, code: code, json: json)
        }
    }
}
