import Interruption
import FoundationEssentials
import Glibc
import PatchModel

/// An exclusive flock(2) on a lock file beside what it guards (never inside it, so
/// preparing the guarded directory afresh cannot remove the lock). Held from before
/// anything reads or writes the guarded cache entry until `release()` or deinit.
/// The descriptor is inherited by the commands the builder spawns, so a command
/// orphaned by a killed kpatchctl still holds the lock until it has exited.
final class TreeLock {
    private var fd: Int32

    init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        fd = open(path.path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else {
            throw BuildError.missingInput(what: "lock file (\(String(cString: strerror(errno))))", path: path.path)
        }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let why = String(cString: strerror(errno))
                close(fd)
                throw BuildError.verification("cannot lock \(path.path): \(why)")
            }
            if let signal = Interruption.receivedSignal {
                close(fd)
                throw BuildError.interrupted(signal: signal)
            }
        }
    }

    /// The lock for a kernel release's prepared tree: `<cache>/kernels/<release>.lock`.
    static func kernelTree(release: String, cache: BuildCache) throws -> TreeLock {
        try TreeLock(path: cache.root.appendingPathComponent("kernels/\(release).lock"))
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
