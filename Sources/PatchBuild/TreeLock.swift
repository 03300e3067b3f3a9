import FoundationEssentials
import Glibc

/// An exclusive flock(2) on a file: one build at a time patches a shared tree.
final class TreeLock {
    private let fd: Int32

    init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        fd = open(path.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BuildError.missingInput(what: "lock file", path: path.path) }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw BuildError.verification("cannot lock \(path.path): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
