import FoundationEssentials

/// The compiler a kernel was built with, from its config's `CONFIG_CC_VERSION_TEXT`
/// (`x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0`): the first line its
/// `--version` prints. Objects for a live patch must come from exactly that compiler.
public struct KernelCompiler: Equatable, Sendable {
    /// The whole text, as `<command> --version` must print it on its first line.
    public let versionText: String
    /// The command: its first word (`x86_64-linux-gnu-gcc-14`).
    public let command: String

    /// Reads `CONFIG_CC_VERSION_TEXT` out of a kernel config's text.
    public init(configText: String, configPath: String) throws {
        guard let line = configText.split(separator: "\n").first(where: { $0.hasPrefix("CONFIG_CC_VERSION_TEXT=") }) else {
            throw BuildError.verification("\(configPath) has no CONFIG_CC_VERSION_TEXT: cannot tell which compiler built the target")
        }
        versionText = line.dropFirst("CONFIG_CC_VERSION_TEXT=".count).trimmingCharacters(in: ["\""])
        guard let first = versionText.split(separator: " ").first, !first.isEmpty else {
            throw BuildError.verification("\(configPath): CONFIG_CC_VERSION_TEXT is empty")
        }
        command = String(first)
    }

    public static func read(config: URL) throws -> KernelCompiler {
        guard FileManager.default.fileExists(atPath: config.path) else {
            throw BuildError.missingInput(what: "kernel config", path: config.path)
        }
        return try KernelCompiler(configText: try String(contentsOf: config, encoding: .utf8), configPath: config.path)
    }

    /// Debian's package of the compiler (`gcc-14` for `x86_64-linux-gnu-gcc-14`), when it is a
    /// Debian gcc-N; nil for anything else (clang, an unversioned gcc), which no build root provides.
    public var debianPackage: String? {
        guard versionText.contains("(Debian ") else { return nil }
        let name = command.split(separator: "-").suffix(2)
        guard name.count == 2, name.first == "gcc", let major = name.last, !major.isEmpty, major.allSatisfy(\.isNumber) else { return nil }
        return "gcc-\(major)"
    }

    /// Where to compile, given the first line this machine's `command --version` printed
    /// (nil: the command is not here) and the Debian release whose build root could
    /// provide it (nil: none, the release is not a Debian one). Pure: `Toolchain.select` runs it.
    public enum Decision: Equatable, Sendable {
        case host
        case buildRoot(distribution: String, compilerPackage: String)
        /// Nothing gives this compiler: the reason names both compilers.
        case refuse(String)
    }

    public func decide(hostVersion: String?, distribution: String?) -> Decision {
        if hostVersion == versionText { return .host }
        let here = hostVersion.map { "this machine's \(command) is '\($0)'" } ?? "this machine has no \(command)"
        guard let distribution else {
            return .refuse("the target kernel was built with '\(versionText)' and \(here); the release is no Debian release kpatchctl knows, so no build root of its suite can provide that compiler: install it, or build on a machine that has it")
        }
        guard let package = debianPackage else {
            return .refuse("the target kernel was built with '\(versionText)' and \(here); a build root provides Debian's gcc-N only")
        }
        return .buildRoot(distribution: distribution, compilerPackage: package)
    }
}
