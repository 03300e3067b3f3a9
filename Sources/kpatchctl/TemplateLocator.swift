import Foundation

/// Finds kmod/, the patch-module template: $KPATCHCTL_KMOD, beside the binary's
/// share directory (installed), or in the source checkout the binary was built in.
enum TemplateLocator {
    static func kmodDirectory() throws -> URL {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["KPATCHCTL_KMOD"] { candidates.append(URL(fileURLWithPath: dir)) }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(binary.deletingLastPathComponent().appendingPathComponent("../share/kpatchctl/kmod").standardized)
        // .build/<config>/kpatchctl in a checkout
        candidates.append(binary.deletingLastPathComponent().appendingPathComponent("../../kmod").standardized)
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../kmod").standardized)
        for dir in candidates where fm.fileExists(atPath: dir.appendingPathComponent("kpatch-patch.c").path) {
            return dir
        }
        throw TemplateError.notFound(candidates.map(\.path))
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
