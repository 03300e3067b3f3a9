import Glibc
import PatchModel

/// Files kpatchctl keeps for itself (/run/kpatchctl, /var/lib/kpatchctl, the
/// Prometheus textfile): directories made as needed, whole files replaced
/// atomically so a reader never sees half of one and a failed write (a full
/// disk) leaves the old file as it was.
public enum StateFile {
    /// mkdir -p: creates every missing component of `path`. The error names the
    /// component that could not be made.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) == 0 { continue }
            let e = errno
            if e == EEXIST && KernelFile.isDirectory(prefix) { continue }
            throw KernelFileError(path: prefix, operation: "create directory", errno: e == EEXIST ? ENOTDIR : e)
        }
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
    /// over `path`. On any failure the temporary file is removed and `path` is
    /// untouched.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644) throws {
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw KernelFileError(path: temporary, operation: "create", errno: errno) }
        var written = 0
        var failure: KernelFileError?
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { failure = KernelFileError(path: path, operation: "write", errno: n < 0 ? errno : EIO); break }
            written += n
        }
        if failure == nil && fsync(fd) != 0 { failure = KernelFileError(path: path, operation: "sync", errno: errno) }
        if close(fd) != 0 && failure == nil { failure = KernelFileError(path: path, operation: "close", errno: errno) }
        if failure == nil && rename(temporary, path) != 0 {
            failure = KernelFileError(path: path, operation: "rename", errno: errno)
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    public static func replace(_ path: String, with text: String, mode: mode_t = 0o644) throws {
        try replace(path, with: Array(text.utf8), mode: mode)
    }
}
