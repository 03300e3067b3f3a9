import Glibc
import PatchModel

/// The stages of `kpatchctl build`, in order; progress and errors name them.
public enum BuildStage: String, Codable, CaseIterable, Sendable {
    case prepare, originalBuild = "original-build", patch, rebuild, diff, kthreadAnalysis = "kthread-analysis", link, verify
}

public enum BuildError: Error, CustomStringConvertible {
    case missingInput(what: String, path: String)
    case headersMissing(release: String, tried: [String])
    case toolMissing(tool: String, underlying: String)
    case commandFailed(stage: BuildStage, command: String, status: Int32, output: String)
    case diffDoesNotApply(file: String, rejected: [String], output: String)
    case diffTouchesNothingBuilt(paths: [String])
    case noModule(dir: String)
    case objectNotInModule(object: String)
    /// Nothing the diff touches is compiled into the target kernel (one line per file, with why).
    case nothingToPatch(ignored: [String])
    case refused([Refusal])
    case noChange
    case verification(String)
    /// No compiler gives the target's objects (the reason names both compilers).
    case compilerUnavailable(String)
    /// A release that is no Debian amd64 release kpatchctl knows the suite of.
    case unknownRelease(String)
    /// Debian's archive (the release's suite) does not serve the package.
    case notInArchive(release: String, package: String, suite: String)
    /// SIGINT or SIGTERM: the running command was stopped and nothing was written.
    case interrupted(signal: Int32)
    /// The private overlay of the patched build could not be set up.
    case overlayUnavailable(String)

    public var description: String {
        switch self {
        case .missingInput(let what, let path):
            return "\(what) \(path) does not exist"
        case .headersMissing(let release, let tried):
            return "no kernel headers for \(release) (tried \(tried.joined(separator: ", "))): install linux-headers-\(release) or pass --kernel-headers DIR"
        case .toolMissing(let tool, let underlying):
            return "cannot run \(tool): \(underlying)"
        case .commandFailed(let stage, let command, let status, let output):
            let tail = output.split(separator: "\n").suffix(15).joined(separator: "\n")
            return "\(stage.rawValue): `\(command)` exited \(status):\n\(tail)"
        case .diffDoesNotApply(let file, let rejected, let output):
            var text = "the diff does not apply to \(file); nothing was built and the source tree is unchanged"
            if !rejected.isEmpty { text += "\nrejected hunk(s):\n" + rejected.joined(separator: "\n") }
            else { text += "\n" + output }
            return text
        case .diffTouchesNothingBuilt(let paths):
            return "the diff changes \(paths.joined(separator: ", ")), which no object of the module is built from: nothing to patch"
        case .noModule(let dir):
            return "\(dir) builds no kernel module (no *.mod after the Kbuild run): is it an out-of-tree module directory?"
        case .nothingToPatch(let ignored):
            return ignored.count == 1 ? "\(ignored[0]): nothing to patch"
                : "nothing the diff touches is built into the target: nothing to patch\n" + ignored.map { "  - \($0)" }.joined(separator: "\n")
        case .objectNotInModule(let object):
            return "\(object) is not linked into any module of the tree"
        case .refused(let refusals):
            return "the patch cannot be built safely:\n" + refusals.map { "  - \($0)" }.joined(separator: "\n")
        case .noChange:
            return "the diff changes no function's code: there is nothing to live-patch"
        case .compilerUnavailable(let why):
            return "\(why); nothing was compiled"
        case .unknownRelease(let release):
            return "kernel \(release) is no Debian amd64 release kpatchctl can fetch (6.1.0-N-*: bookworm, *+deb12-*: bookworm-backports, *+deb13-*: trixie): install its headers, debug vmlinux and source, and pass --kernel-headers, --vmlinux, --source"
        case .notInArchive(let release, let package, let suite):
            return "kernel \(release): Debian's archive (\(suite)) does not serve \(package); check the release (apt-cache search linux-image-), or pass --kernel-headers, --vmlinux and --source for a kernel built elsewhere"
        case .verification(let why):
            return "verify: \(why)"
        case .interrupted(let signal):
            return "interrupted by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"): the build stopped; no patch was written and the cache is as it was"
        case .overlayUnavailable(let why):
            return "the patched build runs in a private overlay of the prepared tree (so the cached tree never changes), and it could not be set up: \(why); run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        }
    }
}
