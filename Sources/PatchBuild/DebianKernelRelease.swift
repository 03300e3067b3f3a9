import FoundationEssentials

/// A Debian amd64 kernel release (`uname -r`) and where Debian's archive serves it:
/// `6.12.117+deb13-amd64` is trixie's, `6.12.95+deb12-amd64` bookworm-backports',
/// `6.1.0-56-amd64` bookworm's. The one place this mapping lives; scripts/lib.sh keeps a
/// copy for the shell, which DebianKernelReleaseTests holds to this one.
public struct DebianKernelRelease: Equatable, Sendable {
    public let release: String
    /// The archive suite that serves the packages (`bookworm-backports`).
    public let suite: String
    /// The Debian release whose toolchain built it (`bookworm` for its backports).
    public var distribution: String {
        suite.hasSuffix("-backports") ? String(suite.dropLast("-backports".count)) : suite
    }
    /// `6.12` of `6.12.117+deb13-amd64`: linux-source-<majorMinor>.
    public let majorMinor: String

    /// nil when `release` is no Debian amd64 release this knows (6.1.0-N-*, *+deb12-*,
    /// *+deb13-*; any flavour: -amd64, -cloud-amd64, -rt-amd64); a
    /// package `version` of a backports suite (`~bpo12+1`) names that suite.
    public init?(_ release: String, version: String? = nil) {
        let parts = release.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0].allSatisfy(\.isNumber), parts[1].allSatisfy(\.isNumber),
              release.hasSuffix("-amd64") else { return nil }
        self.release = release
        majorMinor = "\(parts[0]).\(parts[1])"
        if let version, version.contains("~bpo12") {
            suite = "bookworm-backports"
        } else if let version, version.contains("~bpo13") {
            suite = "trixie-backports"
        } else if release.contains("+deb13-") {
            suite = "trixie"
        } else if release.contains("+deb12-") {
            suite = "bookworm-backports"
        } else if release.hasPrefix("6.1.0-") {
            suite = "bookworm"
        } else {
            return nil
        }
    }

    /// The suite, or an error naming the release and what is known.
    public static func parse(_ release: String, version: String? = nil) throws -> DebianKernelRelease {
        guard let known = DebianKernelRelease(release, version: version) else {
            throw BuildError.unknownRelease(release)
        }
        return known
    }

    public var imagePackage: String { "linux-image-\(release)" }
    public var debugPackage: String { "linux-image-\(release)-dbg" }
    public var headersPackage: String { "linux-headers-\(release)" }
    public var sourcePackage: String { "linux-source-\(majorMinor)" }
}
