import FoundationEssentials
import PatchModel

/// `build --sign-key KEY --sign-cert CERT`: the patch module is signed with the target
/// release's own `scripts/sign-file` (its linux-kbuild package, reached through the
/// headers' `scripts` link), with the hash algorithm of the kernel's
/// CONFIG_MODULE_SIG_HASH, run in the release's toolchain (its build root when the host
/// lacks its compiler: sign-file links against that release's libcrypto).
public struct ModuleSigning: Sendable {
    public let key: URL
    public let certificate: URL

    public init(key: URL, certificate: URL) {
        self.key = key
        self.certificate = certificate
    }

    /// What a build root must see at the same paths.
    var binds: [URL] { [key.deletingLastPathComponent(), certificate.deletingLastPathComponent()] }

    func checkInputs() throws {
        for (what, file) in [("--sign-key", key), ("--sign-cert", certificate)] where !FileManager.default.isReadableFile(atPath: file.path) {
            throw BuildError.missingInput(what: "the signing key or certificate (\(what))", path: file.path)
        }
    }

    /// Appends the signature to `module` in place, then reads it back: a file sign-file
    /// did not sign is an error, not an unsigned patch.
    func sign(_ module: URL, kernel: TargetKernel) throws -> ModuleSignature {
        let signFile = kernel.headers.appendingPathComponent("scripts/sign-file")
        guard FileManager.default.isExecutableFile(atPath: signFile.path) else {
            throw BuildError.missingInput(what: "the release's sign-file (linux-kbuild for \(kernel.release))", path: signFile.path)
        }
        let hash = try Self.hashAlgorithm(config: kernel.headers.appendingPathComponent(".config"))
        let argv = kernel.toolchain.command([signFile.path, hash, key.path, certificate.path, module.path])
        let result = try CommandRunner.run(argv)
        guard result.status == 0 else {
            throw BuildError.commandFailed(stage: .verify, command: argv.joined(separator: " "), status: result.status, output: result.output)
        }
        guard let signature = try ModuleSignature.read(Array(try Data(contentsOf: module))) else {
            throw BuildError.verification("sign-file exited 0 but \(module.lastPathComponent) carries no signature")
        }
        return signature
    }

    /// CONFIG_MODULE_SIG_HASH from the headers' .config: the kernel verifies with that hash.
    static func hashAlgorithm(config: URL) throws -> String {
        let text: String
        do { text = try String(contentsOf: config, encoding: .utf8) } catch {
            throw BuildError.missingInput(what: "the kernel configuration (for CONFIG_MODULE_SIG_HASH)", path: config.path)
        }
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_MODULE_SIG_HASH=") {
            return String(line.dropFirst("CONFIG_MODULE_SIG_HASH=".count).filter { $0 != "\"" })
        }
        throw BuildError.verification("\(config.path) has no CONFIG_MODULE_SIG_HASH: the kernel does not check module signatures, so there is nothing to sign for")
    }
}
