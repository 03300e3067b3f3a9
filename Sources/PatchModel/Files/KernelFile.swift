import Glibc

/// An error reading or writing a /proc, /sys or /run file, with the path and errno.
public struct KernelFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let operation: String
    public let errno: Int32

    package init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    /// Gone: never there, the task exited, or (ENODEV) the sysfs object was removed
    /// while open, as a livepatch's directory is when its unpatching finishes.
    public var isMissing: Bool { errno == ENOENT || errno == ESRCH || errno == ENODEV }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// Whole-file reads and writes for pseudo files. Their stat size is 0 or 4096
/// whatever they hold, so we read until EOF instead of trusting it.
public enum KernelFile {
    public static func read(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    public static func readBytes(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelFileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw KernelFileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Reads a file and trims the trailing newline; nil when it does not exist.
    public static func readValue(_ path: String) throws -> String? {
        do {
            return try read(path).trimmingTrailingNewlines()
        } catch let error as KernelFileError where error.isMissing {
            return nil
        }
    }

    /// One write(2) of `text`: sysfs and tracefs take a value per write.
    public static func write(_ path: String, _ text: String, append: Bool = false) throws {
        let flags = O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)
        let fd = open(path, flags)
        guard fd >= 0 else { throw KernelFileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw KernelFileError(path: path, operation: "write", errno: n < 0 ? errno : EIO) }
    }

    /// Names in a directory, without "." and "..".
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw KernelFileError(path: path, operation: "opendir", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

extension String {
    package func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
