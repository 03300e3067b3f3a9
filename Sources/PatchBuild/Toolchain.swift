import FoundationEssentials
import Glibc

/// Where every Kbuild call of a target runs: on this machine when its compiler is the one
/// that built the kernel (`CONFIG_CC_VERSION_TEXT`), else inside a build root of the
/// kernel's Debian release (`BuildRoot`). Chosen once per build, before anything is compiled.
public struct Toolchain: Sendable {
    public let compiler: KernelCompiler
    /// nil: the host.
    public let buildRoot: BuildRoot?
    /// Host directories the commands read or write (cache, work directory, headers,
    /// template), mounted at the same paths inside the build root.
    let binds: [String]

    /// The host's compiler, when it is the kernel's (Debian 12's 6.1 and the backports 6.12).
    public static func host(_ compiler: KernelCompiler) -> Toolchain { Toolchain(compiler: compiler, buildRoot: nil, binds: []) }

    /// What the build output, `--json` and the patch metadata say.
    public var description: String {
        guard let buildRoot else { return "host \(compiler.versionText)" }
        return "build root \(buildRoot.distribution) (\(buildRoot.dir.path)): \(compiler.versionText)"
    }

    /// `argv` as it runs with this toolchain: itself on the host; in the build root, chrooted
    /// in a private mount namespace with `binds` at their host paths and the current directory kept.
    func command(_ argv: [String]) -> [String] {
        guard let buildRoot else { return argv }
        return buildRoot.command(argv, binds: binds)
    }

    /// Reads the kernel's compiler from `config` and picks the host or a build root of the
    /// release's distribution (made with mmdebstrap under `store` when missing), whose own
    /// compiler is then checked. A compiler nothing provides is refused naming both.
    public static func select(config: URL, release: String, store: KernelPackageStore, binds: [URL],
                              note: (String) -> Void) throws -> Toolchain {
        let compiler = try KernelCompiler.read(config: config)
        let host = try firstLine(of: [compiler.command, "--version"])
        switch compiler.decide(hostVersion: host, distribution: DebianKernelRelease(release)?.distribution) {
        case .host:
            return .host(compiler)
        case .refuse(let why):
            throw BuildError.compilerUnavailable(why)
        case .buildRoot(let distribution, let package):
            guard geteuid() == 0 else {
                throw BuildError.compilerUnavailable("the target kernel was built with '\(compiler.versionText)', which this machine lacks (\(host.map { "its \(compiler.command) is '\($0)'" } ?? "no \(compiler.command)")); the build root of \(distribution) that has it needs root (mmdebstrap, chroot): run as root")
            }
            note("the kernel's compiler is '\(compiler.versionText)'; this machine \(host.map { "has '\($0)'" } ?? "has no \(compiler.command)"): building in the \(distribution) build root")
            let root = try BuildRoot.ensure(store: store, distribution: distribution, compilerPackage: package, note: note)
            // A bind needs its directory: a cache used for the first time is made now rather than left out.
            for dir in binds where !FileManager.default.fileExists(atPath: dir.path) {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            }
            let toolchain = Toolchain(compiler: compiler, buildRoot: root, binds: BuildRoot.mountList(binds.map(\.path)))
            let inRoot = try firstLine(of: toolchain.command([compiler.command, "--version"]))
            guard inRoot == compiler.versionText else {
                throw BuildError.compilerUnavailable("the target kernel was built with '\(compiler.versionText)' but the \(distribution) build root \(root.dir.path) has '\(inRoot ?? "no \(compiler.command)")' (Debian updated it?): objects built there would not match the running kernel")
            }
            return toolchain
        }
    }

    /// The first line `argv` prints, nil when it cannot run or fails.
    private static func firstLine(of argv: [String]) throws -> String? {
        let result = try CommandRunner.run(argv)
        guard result.status == 0 else { return nil }
        return result.output.split(separator: "\n").first.map(String.init)
    }
}
