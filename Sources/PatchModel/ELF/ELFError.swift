#if canImport(Glibc)
import Glibc
#endif

/// What went wrong reading or writing an ELF file. Every case names the file.
public enum ELFError: Error, CustomStringConvertible, Equatable {
    /// open(2)/read failed.
    case cannotOpen(file: String, errno: Int32)
    /// Not an ELF file at all.
    case notELF(file: String)
    /// An ELF file of a kind we do not handle (class, byte order, machine, type).
    case unsupported(file: String, what: String)
    /// A header, index, offset or size in the file is out of range or inconsistent.
    case malformed(file: String, what: String)
    /// A libelf call failed; `operation` is the call, `message` libelf's reason.
    case libelf(file: String, operation: String, message: String)
    /// A section the caller asked for is not there.
    case missingSection(file: String, name: String)
    /// An image cannot be written as asked (e.g. a symbol names a section that does not exist).
    case cannotWrite(file: String, what: String)

    public var file: String {
        switch self {
        case .cannotOpen(let f, _), .notELF(let f), .unsupported(let f, _), .malformed(let f, _),
             .libelf(let f, _, _), .missingSection(let f, _), .cannotWrite(let f, _):
            return f
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let f, let e): return "\(f): cannot open: \(String(cString: strerror(e)))"
        case .notELF(let f): return "\(f): not an ELF file"
        case .unsupported(let f, let what): return "\(f): unsupported ELF file: \(what)"
        case .malformed(let f, let what): return "\(f): malformed ELF file: \(what)"
        case .libelf(let f, let op, let msg): return "\(f): \(op) failed: \(msg)"
        case .missingSection(let f, let name): return "\(f): no section \(name)"
        case .cannotWrite(let f, let what): return "\(f): cannot write: \(what)"
        }
    }
}
