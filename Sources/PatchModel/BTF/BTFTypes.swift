import FoundationEssentials

/// The kernel's BPF Type Format data: the `.BTF` section of a vmlinux or the raw
/// `/sys/kernel/btf/vmlinux` (include/uapi/linux/btf.h: a header, a type section,
/// a string section). Struct sizes give the special sections' entry sizes, so they
/// come from the target kernel rather than constants copied per kernel; member
/// offsets let a kprobe fetch a field without the debug vmlinux.
public struct BTFTypes: Sendable {
    public let source: String
    private let bytes: [UInt8]
    private let types: [TypeEntry]
    private let strings: Range<Int>

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
        try self.init(bytes: try object.data(of: section), source: "\(object.path) .BTF")
    }

    /// A raw BTF blob (the running kernel's: `BTFTypes.kernelPath` in KernelRuntime), read to EOF.
    public init(rawFile path: String) throws {
        try self.init(bytes: try KernelFile.readBytes(path), source: path)
    }

    public init(bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        self.source = source
        let (types, strings) = try Self.index(bytes, source: source)
        self.types = types
        self.strings = strings
    }

    /// The size of each struct of `names` this BTF has (the first of a name wins),
    /// read without a `String` per struct: a vmlinux has ten thousand of them.
    public func structSizes(named names: Set<String>) -> [String: Int] {
        let wanted = names.map { ($0, Array($0.utf8)) }
        var sizes: [String: Int] = [:]
        for entry in types where entry.kind == Kind.structure.rawValue {
            for (name, utf8) in wanted where sizes[name] == nil && isNamed(entry, utf8) {
                sizes[name] = Int(entry.sizeOrType)
            }
        }
        return sizes
    }

    /// Whether the type's name is `utf8`, compared in place: no `String` per type.
    private func isNamed(_ entry: TypeEntry, _ utf8: [UInt8]) -> Bool {
        let start = strings.lowerBound + Int(entry.nameOffset)
        guard entry.nameOffset > 0, start + utf8.count < strings.upperBound, bytes[start + utf8.count] == 0 else { return false }
        return bytes[start..<start + utf8.count].elementsEqual(utf8)
    }

    /// Byte offset of `member` in `struct name`, looking through anonymous
    /// struct/union members; nil when absent or a bitfield.
    public func memberOffset(structure name: String, member: String) -> Int? {
        let utf8 = Array(name.utf8)
        for (id, entry) in types.enumerated() where id > 0 && entry.kind == Kind.structure.rawValue && isNamed(entry, utf8) {
            if let bits = find(member, in: id, depth: 0) { return bits % 8 == 0 ? bits / 8 : nil }
        }
        return nil
    }

    // MARK: - Layout

    private enum Kind: UInt32 {
        case int = 1, ptr, array, structure, union, enumeration, fwd, typedef, volatile, const, restrict
        case function, functionProto, variable, dataSection, float, declTag, typeTag, enum64
    }

    /// One btf_type: where it starts and the fields every kind has.
    private struct TypeEntry: Sendable {
        let kind: UInt32
        let nameOffset: UInt32
        let kindFlag: Bool
        let vlen: Int
        let sizeOrType: UInt32
        let start: Int
    }

    private static let headerSize = 24

    /// Bytes of trailing data after a btf_type of `kind` with `vlen` members.
    private static func trailer(_ kind: Kind, vlen: Int) -> Int {
        switch kind {
        case .int, .variable, .declTag: return 4
        case .array: return 12
        case .structure, .union, .dataSection, .enum64: return 12 * vlen
        case .enumeration, .functionProto: return 8 * vlen
        case .ptr, .fwd, .typedef, .volatile, .const, .restrict, .function, .float, .typeTag: return 0
        }
    }

    private static func u32(_ bytes: [UInt8], _ at: Int, _ source: String) throws -> UInt32 {
        guard at >= 0, at + 4 <= bytes.count else { throw BTFError.malformed(source: source, what: "read past the end at \(at)") }
        return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    /// Every type's position (id 0 is void) and the string section's range.
    private static func index(_ bytes: [UInt8], source: String) throws -> ([TypeEntry], Range<Int>) {
        guard bytes.count >= headerSize, bytes[0] == 0x9f, bytes[1] == 0xeb else {
            throw BTFError.malformed(source: source, what: "no BTF magic")
        }
        let headerLength = Int(try u32(bytes, 4, source))
        let typesStart = headerLength + Int(try u32(bytes, 8, source)), typesEnd = typesStart + Int(try u32(bytes, 12, source))
        let stringsStart = headerLength + Int(try u32(bytes, 16, source)), stringsEnd = stringsStart + Int(try u32(bytes, 20, source))
        guard typesStart >= headerSize, stringsStart >= headerSize, typesEnd <= bytes.count, stringsEnd <= bytes.count else {
            throw BTFError.malformed(source: source, what: "type or string section outside the data")
        }
        var entries = [TypeEntry(kind: 0, nameOffset: 0, kindFlag: false, vlen: 0, sizeOrType: 0, start: 0)]
        var at = typesStart
        while at < typesEnd {
            let info = try u32(bytes, at + 4, source)
            let rawKind = (info >> 24) & 0x1f, vlen = Int(info & 0xffff)
            guard let kind = Kind(rawValue: rawKind) else {
                throw BTFError.malformed(source: source, what: "unknown type kind \(rawKind) at \(at)")
            }
            entries.append(TypeEntry(kind: rawKind, nameOffset: try u32(bytes, at, source), kindFlag: info >> 31 == 1,
                                     vlen: vlen, sizeOrType: try u32(bytes, at + 8, source), start: at))
            at += 12 + trailer(kind, vlen: vlen)
            guard at <= typesEnd else { throw BTFError.malformed(source: source, what: "type at \(entries.last!.start) runs past the type section") }
        }
        return (entries, stringsStart..<stringsEnd)
    }

    private static func name(_ offset: UInt32, in bytes: [UInt8], strings: Range<Int>) -> String? {
        let start = strings.lowerBound + Int(offset)
        guard offset > 0, start < strings.upperBound else { return nil }
        var end = start
        while end < strings.upperBound, bytes[end] != 0 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The bit offset of `member` in struct/union `id`, through anonymous members.
    private func find(_ member: String, in id: Int, depth: Int) -> Int? {
        guard depth < 16 else { return nil }
        let entry = types[id]
        for i in 0..<entry.vlen {
            let at = entry.start + 12 + i * 12
            guard let nameOffset = try? Self.u32(bytes, at, source), let type = try? Self.u32(bytes, at + 4, source),
                  let raw = try? Self.u32(bytes, at + 8, source) else { return nil }
            let bits = Int(entry.kindFlag ? raw & 0xffffff : raw)
            if nameOffset != 0 {
                if Self.name(nameOffset, in: bytes, strings: strings) == member { return bits }
            } else if let inner = resolve(Int(type)), let found = find(member, in: inner, depth: depth + 1) {
                return bits + found
            }
        }
        return nil
    }

    /// Follows typedefs and qualifiers to a struct or union.
    private func resolve(_ id: Int) -> Int? {
        var id = id
        for _ in 0..<16 {
            guard id > 0, id < types.count, let kind = Kind(rawValue: types[id].kind) else { return nil }
            switch kind {
            case .structure, .union: return id
            case .typedef, .volatile, .const, .restrict, .typeTag: id = Int(types[id].sizeOrType)
            default: return nil
            }
        }
        return nil
    }
}
