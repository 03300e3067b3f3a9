import PatchModel

/// What the running kernel does with a module's signature: `module.sig_enforce=1`
/// (`/sys/module/module/parameters/sig_enforce` is `Y`) or lockdown (`integrity` or
/// `confidentiality` in `/sys/kernel/security/lockdown`) refuse unsigned modules with
/// EKEYREJECTED; otherwise an unsigned module loads and taints the kernel (E: "module
/// verification failed"). Debian signs its own modules; a patch built here is unsigned
/// unless the user signs it (`scripts/sign-file`, a key the kernel trusts).
public struct ModuleSignaturePolicy: Sendable, Equatable {
    /// Why unsigned modules are refused; nil when they are not.
    public let enforcedBy: String?
    /// The kernel checks signatures at all (CONFIG_MODULE_SIG: the parameter exists).
    public let checksSignatures: Bool

    public init(enforcedBy: String?, checksSignatures: Bool) {
        self.enforcedBy = enforcedBy
        self.checksSignatures = checksSignatures
    }

    /// The running kernel's policy, read from sysfs and securityfs (`sysfs` is the root of both,
    /// for tests); a lockdown file that is absent (securityfs not mounted) counts as none.
    public static func current(sysfs: String = "/sys") throws -> ModuleSignaturePolicy {
        let enforce = try KernelFile.readValue("\(sysfs)/module/module/parameters/sig_enforce")
        let lockdown = try KernelFile.readValue("\(sysfs)/kernel/security/lockdown")
            .flatMap { text in text.split(separator: " ").first { $0.hasPrefix("[") }.map { $0.dropFirst().dropLast() } }
            .map(String.init)
        var reasons: [String] = []
        if enforce == "Y" { reasons.append("module.sig_enforce=1") }
        if let lockdown, lockdown != "none" { reasons.append("lockdown=\(lockdown)") }
        return ModuleSignaturePolicy(enforcedBy: reasons.isEmpty ? nil : reasons.joined(separator: ", "),
                                     checksSignatures: enforce != nil)
    }

    /// Whether the module file carries an appended signature.
    public static func isSigned(_ modulePath: String) throws -> Bool {
        try KernelFile.readBytes(modulePath).suffix(ModuleSignature.marker.count).elementsEqual(ModuleSignature.marker)
    }

    /// The module's appended signature (signer, key serial, hash), nil when it has none.
    public static func signature(of modulePath: String) throws -> ModuleSignature? {
        try ModuleSignature.read(KernelFile.readBytes(modulePath))
    }
}

/// An unsigned patch on a kernel that enforces signatures is refused before loading,
/// naming the setting; the kernel would refuse it anyway (EKEYREJECTED), after the
/// transition log and switch probes were set up. A signed patch passes this check: only
/// the kernel knows which keys it trusts (its built-in keyring, the MOK list), so a patch
/// signed with a key it does not trust is still refused by finit_module (EKEYREJECTED,
/// "Loading of module with unavailable key is rejected"), and apply reports that as the
/// kernel's refusal with nothing loaded.
public struct ModuleSignatureCheck: PreflightCheck {
    public let name = "module-signature"
    public let sysfs: String
    public init(sysfs: String = "/sys") { self.sysfs = sysfs }

    public func check(_ context: PreflightContext) -> PreflightFailure? {
        do {
            guard let enforcedBy = try ModuleSignaturePolicy.current(sysfs: sysfs).enforcedBy,
                  try !ModuleSignaturePolicy.isSigned(context.modulePath) else { return nil }
            return refusal(context.modulePath, enforcedBy)
        } catch {
            return PreflightFailure(check: name, reason: "cannot tell whether the kernel would accept \(context.modulePath)'s signature: \(error)",
                                    advice: "check that sysfs is mounted and the module readable, then apply again")
        }
    }

    private func refusal(_ modulePath: String, _ enforcedBy: String) -> PreflightFailure {
        PreflightFailure(check: name,
                         reason: "the kernel only loads signed modules (\(enforcedBy)) and \(modulePath) is not signed",
                         advice: "sign it with a key the kernel trusts (the kernel's scripts/sign-file sha512 KEY CERT MODULE, the certificate enrolled with mokutil --import), or boot without \(enforcedBy); nothing was loaded")
    }
}

extension ModuleSignaturePolicy {
    /// What loading `modulePath` does to the kernel's taint, when it loads: nil when nothing.
    public static func taintNote(for modulePath: String, sysfs: String = "/sys") throws -> String? {
        let policy = try current(sysfs: sysfs)
        guard policy.checksSignatures, policy.enforcedBy == nil, try !isSigned(modulePath) else { return nil }
        return "\(modulePath) is not signed: loading it taints the kernel (E, \"module verification failed\"; the kernel does not enforce signatures)"
    }
}
