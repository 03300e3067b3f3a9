import Glibc

/// The kernel log as /dev/kmsg gives it: one record per read, "prio,seq,ts,flags;text".
public enum KernelLog {
    public static let devicePath = "/dev/kmsg"

    public struct Record: Equatable, Sendable {
        public let sequence: UInt64
        public let text: String
    }

    /// Every record still in the log buffer (oldest first); empty when the log
    /// cannot be read (it only adds detail to a message).
    public static func records(path: String = devicePath) -> [Record] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var result: [Record] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EPIPE { continue }  // overwritten records: the next read resumes
            guard n > 0 else { break }
            let record = buffer[0..<n]
            guard let semicolon = record.firstIndex(of: UInt8(ascii: ";")) else { continue }
            let fields = record[..<semicolon].split(separator: UInt8(ascii: ","))
            guard fields.count >= 2, let sequence = UInt64(String(decoding: fields[1], as: UTF8.self)) else { continue }
            let text = record[(semicolon + 1)...].prefix { $0 != UInt8(ascii: "\n") }
            result.append(Record(sequence: sequence, text: String(decoding: text, as: UTF8.self)))
        }
        return result
    }
}
