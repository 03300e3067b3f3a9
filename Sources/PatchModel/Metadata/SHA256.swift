import FoundationEssentials
import CDigest

/// SHA-256 through Debian's libcrypto (OpenSSL's EVP interface): cache keys, the diff's
/// identity in patch metadata. The hasher owns its EVP context.
public final class SHA256 {
    public static let byteCount = 32
    private let context: OpaquePointer

    public init() {
        // Allocation or initialisation fails only when memory is exhausted; a cache key
        // computed from nothing would be wrong, so stop rather than go on.
        guard let context = EVP_MD_CTX_new() else { fatalError("libcrypto: EVP_MD_CTX_new failed (out of memory)") }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else { fatalError("libcrypto: SHA-256 initialisation failed") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update<Bytes: ContiguousBytes>(data: Bytes) {
        data.withUnsafeBytes { buffer in
            guard buffer.count > 0 else { return }
            precondition(EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1, "libcrypto: SHA-256 update failed")
        }
    }

    /// The digest; the hasher must not be updated afterwards.
    public func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Self.byteCount)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && Int(length) == Self.byteCount,
                     "libcrypto: SHA-256 finalisation failed")
        return digest
    }

    public static func hash<Bytes: ContiguousBytes>(data: Bytes) -> [UInt8] {
        let hasher = SHA256()
        hasher.update(data: data)
        return hasher.finalize()
    }
}
