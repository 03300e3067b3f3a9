import FoundationEssentials
import Glibc

/// Finds kmod/, the patch-module template: $KPATCHCTL_KMOD, the installed
/// share directory beside the binary (/usr/bin -> /usr/share/kpatchctl/kmod, as
/// the .deb lays it out), or the checkout the binary was built in (.build/...).
/// Only paths relative to the binary: an installed binary never reaches back
/// into the machine it was built on.
enum TemplateLocator {
    static func kmodDirectory() throws -> URL {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["KPATCHCTL_KMOD"] { candidates.append(URL(fileURLWithPath: dir)) }
        let binaryDir = URL(fileURLWithPath: executablePath()).deletingLastPathComponent()
        candidates.append(binaryDir.appendingPathComponent("../share/kpatchctl/kmod").standardized)
        // .build/release/kpatchctl resolves to .build/<triple>/release/kpatchctl in a checkout.
        candidates.append(binaryDir.appendingPathComponent("../../../kmod").standardized)
        for dir in candidates where fm.fileExists(atPath: dir.appendingPathComponent("kpatch-patch.c").path) {
            return dir
        }
        throw TemplateError.notFound(candidates.map(\.path))
    }

    /// The running binary's real path (argv[0] may be a bare name found on PATH).
    private static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    enum TemplateError: Error, CustomStringConvertible {
        case notFound([String])
        var description: String {
            switch self {
            case .notFound(let tried):
                return "the patch-module template kmod/kpatch-patch.c was not found (tried \(tried.joined(separator: ", "))): set KPATCHCTL_KMOD to the kmod/ directory"
            }
        }
    }
}
