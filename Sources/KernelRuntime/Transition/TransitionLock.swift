import Glibc
import PatchModel

/// Who holds (or last held) the transition lock, as the holder wrote it into the lock file.
public struct LockHolder: Codable, Equatable, Sendable, CustomStringConvertible {
    public let pid: Int
    /// What it does: "apply livepatch_x" or "revert livepatch_x".
    public let purpose: String

    public init(pid: Int, purpose: String) {
        self.pid = pid
        self.purpose = purpose
    }

    /// Parses the lock file: the pid on the first line, the purpose on the second.
    public init?(lockFileText text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, let pid = Int(first), pid > 0 else { return nil }
        self.init(pid: pid, purpose: lines.count > 1 ? String(lines[1]) : "")
    }

    var lockFileText: String { "\(pid)\n\(purpose)\n" }

    /// The process still exists (EPERM: it exists but is not ours to signal).
    public var isRunning: Bool { kill(pid_t(pid), 0) == 0 || errno == EPERM }

    public var description: String { "kpatchctl \(purpose.isEmpty ? "" : purpose + " ")(pid \(pid))" }
}

public struct TransitionLockError: Error, CustomStringConvertible {
    public let path: String
    /// The holder as it wrote itself into the lock file, when known.
    public let holder: LockHolder?
    public let errno: Int32
    /// What failed and on which path ("create directory /run", "open /run/kpatchctl/lock").
    public let failed: String

    public init(path: String, holder: LockHolder?, errno: Int32, failed: String) {
        self.path = path
        self.holder = holder
        self.errno = errno
        self.failed = failed
    }

    public var description: String {
        if errno == EWOULDBLOCK {
            let who = holder?.description ?? "another kpatchctl"
            return "\(who) holds the transition lock \(path): wait for it to finish (kpatchctl status)"
        }
        let advice = errno == EACCES || errno == EPERM
            ? "kpatchctl apply/revert needs root"
            : "make that path a writable directory (kpatchctl keeps its lock and transition state under \(TransitionLog.defaultDirectory))"
        return "cannot take the lock \(path): \(failed): \(String(cString: strerror(errno))); \(advice)"
    }
}

/// Serializes apply and revert: an exclusive flock(2) on a file under /run, held
/// for the life of this value. The directory is created as needed (an early-boot
/// /run may not have it, or be missing). The holder writes its pid and purpose into
/// the file, so a refused controller can say who holds it. A holder that dies
/// (kill -9) loses the flock with its last descriptor, so a dead holder never blocks
/// anyone: the next controller takes the lock and reports it as `reclaimed` (its
/// record is still in the file, since only a clean exit empties it).
public final class TransitionLock {
    public static let defaultPath = "/run/kpatchctl/lock"
    private let fd: Int32
    public let path: String
    /// The record a holder that died left in the file.
    public let reclaimed: LockHolder?

    public init(path: String = TransitionLock.defaultPath, purpose: String) throws {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty {
            do { try StateFile.makeDirectories(dir) } catch let e as KernelFileError {
                throw TransitionLockError(path: path, holder: nil, errno: e.errno, failed: "\(e.operation) \(e.path)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransitionLockError(path: path, holder: nil, errno: errno, failed: "open \(path)") }
        let recorded = (try? KernelFile.read(path)).flatMap(LockHolder.init(lockFileText:))
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            // Re-read: the holder may have written its record after our first read.
            let holder = (try? KernelFile.read(path)).flatMap(LockHolder.init(lockFileText:)) ?? recorded
            throw TransitionLockError(path: path, holder: holder, errno: e, failed: "flock \(path)")
        }
        reclaimed = (try? KernelFile.read(path)).flatMap(LockHolder.init(lockFileText:))
        ftruncate(fd, 0)
        let record = Array(LockHolder(pid: Int(getpid()), purpose: purpose).lockFileText.utf8)
        _ = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
        self.path = path
    }

    /// The record in the lock file, for status: a clean exit empties it, so a record
    /// names the running holder, or one that died (`isRunning` tells which). Read
    /// without locking: even a shared flock could make a starting apply fail.
    public static func recordedHolder(path: String = TransitionLock.defaultPath) -> LockHolder? {
        (try? KernelFile.read(path)).flatMap(LockHolder.init(lockFileText:))
    }

    deinit {
        ftruncate(fd, 0)
        close(fd)
    }
}
