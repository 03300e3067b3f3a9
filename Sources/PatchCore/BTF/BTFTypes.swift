import Foundation

/// Sizes of named structs from BPF Type Format data: the `.BTF` section of a
/// vmlinux or the raw `/sys/kernel/btf/vmlinux`. Used for the layout of the
/// kernel's special sections, so entry sizes come from the target kernel
/// rather than constants copied per kernel.
public struct BTFTypes: Sendable {
    public let structSizes: [String: Int]
    public let source: String

    public enum BTFError: Error, CustomStringConvertible, Equatable {
        case malformed(source: String, what: String)

        public var description: String {
            switch self {
            case .malformed(let source, let what): return "\(source): malformed BTF: \(what)"
            }
        }
    }

    /// The `.BTF` section of an ELF file (the debug vmlinux).
    public init(object: ELFObject) throws {
        let section = try object.requireSection(named: ".BTF")
        let source = "\(object.path) .BTF"
        structSizes = try object.withData(of: section) { try BTFTypes.parse($0, source: source) }
        self.source = source
    }

    /// A raw BTF blob, e.g. /sys/kernel/btf/vmlinux.
    public init(rawFile url: URL) throws {
        let data = try Data(contentsOf: url)
        structSizes = try data.withUnsafeBytes { try BTFTypes.parse($0, source: url.path) }
        source = url.path
    }

    private static let magic: UInt16 = 0xeb9f
    private static let kindStruct: UInt32 = 4

    /// Bytes of trailing data after a btf_type of `kind` with `vlen` members.
    private static func trailer(kind: UInt32, vlen: Int) -> Int? {
        switch kind {
        case 1, 14, 17: return 4                 // INT, VAR, DECL_TAG
        case 3: return 12                        // ARRAY
        case 4, 5, 15, 19: return 12 * vlen      // STRUCT, UNION, DATASEC, ENUM64
        case 6, 13: return 8 * vlen              // ENUM, FUNC_PROTO
        case 2, 7, 8, 9, 10, 11, 12, 16, 18: return 0
        default: return nil
        }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws -> [String: Int] {
        func u32(_ at: Int) throws -> UInt32 {
            guard at >= 0, at + 4 <= bytes.count else { throw BTFError.malformed(source: source, what: "read past the end at \(at)") }
            return bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        }
        guard bytes.count >= 24, bytes.loadUnaligned(as: UInt16.self) == magic else {
            throw BTFError.malformed(source: source, what: "no BTF magic")
        }
        let headerLength = Int(try u32(4)), typeOffset = Int(try u32(8)), typeLength = Int(try u32(12))
        let stringOffset = Int(try u32(16)), stringLength = Int(try u32(20))
        let typesStart = headerLength + typeOffset, typesEnd = typesStart + typeLength
        let stringsStart = headerLength + stringOffset, stringsEnd = stringsStart + stringLength
        guard typesEnd <= bytes.count, stringsEnd <= bytes.count, typesStart >= 24, stringsStart >= 24 else {
            throw BTFError.malformed(source: source, what: "type or string section outside the data")
        }
        func name(_ offset: UInt32) -> String? {
            let start = stringsStart + Int(offset)
            guard offset > 0, start < stringsEnd else { return nil }
            var end = start
            while end < stringsEnd, bytes[end] != 0 { end += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        var sizes: [String: Int] = [:]
        var at = typesStart
        while at < typesEnd {
            let nameOffset = try u32(at), info = try u32(at + 4), size = try u32(at + 8)
            let kind = (info >> 24) & 0x1f, vlen = Int(info & 0xffff)
            guard let extra = trailer(kind: kind, vlen: vlen) else {
                throw BTFError.malformed(source: source, what: "unknown type kind \(kind) at \(at)")
            }
            if kind == kindStruct, let n = name(nameOffset), sizes[n] == nil { sizes[n] = Int(size) }
            at += 12 + extra
        }
        return sizes
    }
}
