import Glibc

public struct TransitionLockError: Error, CustomStringConvertible {
    public let path: String
    /// The holder's pid as it wrote it, when known.
    public let holder: Int?
    public let errno: Int32
    /// What failed and on which path ("create directory /run", "open /run/kpatchctl/lock").
    public let failed: String

    public init(path: String, holder: Int?, errno: Int32, failed: String) {
        self.path = path
        self.holder = holder
        self.errno = errno
        self.failed = failed
    }

    public var description: String {
        if errno == EWOULDBLOCK {
            let who = holder.map { "kpatchctl (pid \($0))" } ?? "another kpatchctl"
            return "\(who) is applying or reverting a patch (lock \(path)): wait for it to finish (kpatchctl status)"
        }
        let advice = errno == EACCES || errno == EPERM
            ? "kpatchctl apply/revert needs root"
            : "make that path a writable directory (kpatchctl keeps its lock and transition state under \(TransitionLog.defaultDirectory))"
        return "cannot take the lock \(path): \(failed): \(String(cString: strerror(errno))); \(advice)"
    }
}

/// Serializes apply and revert: an exclusive flock(2) on a file under /run, held
/// for the life of this value (the kernel drops it if the process dies). The
/// directory is created as needed (an early-boot /run may not have it, or be missing).
public final class TransitionLock {
    public static let defaultPath = "/run/kpatchctl/lock"
    private let fd: Int32
    public let path: String

    public init(path: String = TransitionLock.defaultPath) throws {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty {
            do { try StateFile.makeDirectories(dir) } catch let e as KernelFileError {
                throw TransitionLockError(path: path, holder: nil, errno: e.errno, failed: "\(e.operation) \(e.path)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransitionLockError(path: path, holder: nil, errno: errno, failed: "open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            let holder = (try? KernelFile.read(path)).flatMap { Int($0.trimmingTrailingNewlines()) }
            throw TransitionLockError(path: path, holder: holder, errno: e, failed: "flock \(path)")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
        self.path = path
    }

    deinit {
        ftruncate(fd, 0)
        close(fd)
    }
}
