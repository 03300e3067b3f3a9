import Foundation

/// A throwaway OpenPGP signing key for an apt repository (scripts/publish-repo --key), in a
/// gpg home of its own under the caller's scratch directory: the user's keyring is never used.
public struct ArchiveKey {
    /// GNUPGHOME holding the key with its secret part.
    public let home: URL
    public let fingerprint: String

    public var environment: [String: String] { ["GNUPGHOME": home.path] }

    public static func make(in directory: URL, name: String = "gnupg") throws -> ArchiveKey {
        let home = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let env = ["GNUPGHOME": home.path]
        try runChecked(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "kpatchctl test archive <archive@example.org>",
                        "ed25519", "sign", "never"], environment: env)
        let colons = try runChecked(["gpg", "--batch", "--with-colons", "--list-secret-keys"], environment: env)
        guard let fpr = colons.split(separator: "\n").first(where: { $0.hasPrefix("fpr:") })?
            .split(separator: ":", omittingEmptySubsequences: false).dropFirst(9).first else {
            throw TestBedError.commandFailed("gpg --list-secret-keys: no fingerprint", 1, colons)
        }
        return ArchiveKey(home: home, fingerprint: String(fpr))
    }
}
