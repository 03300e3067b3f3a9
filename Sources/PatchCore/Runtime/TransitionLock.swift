import Glibc

public struct TransitionLockError: Error, CustomStringConvertible {
    public let path: String
    /// The holder's pid as it wrote it, when known.
    public let holder: Int?
    public let errno: Int32

    public var description: String {
        if errno == EWOULDBLOCK {
            let who = holder.map { "kpatchctl (pid \($0))" } ?? "another kpatchctl"
            return "\(who) is applying or reverting a patch (lock \(path)): wait for it to finish (kpatchctl status)"
        }
        return "cannot take the lock \(path): \(String(cString: strerror(errno))); kpatchctl apply/revert needs root"
    }
}

/// Serializes apply and revert: an exclusive flock(2) on a file under /run, held
/// for the life of this value (the kernel drops it if the process dies).
public final class TransitionLock {
    public static let defaultPath = "/run/kpatchctl/lock"
    private let fd: Int32
    public let path: String

    public init(path: String = TransitionLock.defaultPath) throws {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        if !dir.isEmpty && mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw TransitionLockError(path: path, holder: nil, errno: errno)
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransitionLockError(path: path, holder: nil, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            let holder = (try? KernelFile.read(path)).flatMap { Int($0.trimmingTrailingNewlines()) }
            throw TransitionLockError(path: path, holder: holder, errno: e)
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
