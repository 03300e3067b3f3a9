/// Reads struct layouts from the kernel's BTF (/sys/kernel/btf/vmlinux), so a
/// kprobe can fetch a field without the debug vmlinux: the raw format is a header,
/// a type section and a string section (include/uapi/linux/btf.h).
public struct KernelBTF {
    public static let defaultPath = "/sys/kernel/btf/vmlinux"
    private let bytes: [UInt8]
    private let typesStart: Int, typesEnd: Int, stringsStart: Int, stringsEnd: Int

    private enum Kind: UInt32 {
        case int = 1, ptr, array, structure, union, enumeration, fwd, typedef, volatile, const, restrict
        case function, functionProto, variable, dataSection, float, declTag, typeTag, enum64
    }

    public init?(path: String = KernelBTF.defaultPath) {
        // sysfs reports no size for the BTF blob: read(2) until EOF.
        guard let bytes = try? KernelFile.readBytes(path) else { return nil }
        self.init(bytes: bytes)
    }

    public init?(bytes: [UInt8]) {
        self.bytes = bytes
        guard bytes.count >= 24, bytes[0] == 0x9f, bytes[1] == 0xeb else { return nil }  // 0xeB9F little-endian
        let headerLength = Int(KernelBTF.u32(bytes, 4))
        let typeOff = Int(KernelBTF.u32(bytes, 8)), typeLen = Int(KernelBTF.u32(bytes, 12))
        let strOff = Int(KernelBTF.u32(bytes, 16)), strLen = Int(KernelBTF.u32(bytes, 20))
        typesStart = headerLength + typeOff
        typesEnd = typesStart + typeLen
        stringsStart = headerLength + strOff
        stringsEnd = stringsStart + strLen
        guard typesEnd <= bytes.count, stringsEnd <= bytes.count else { return nil }
    }

    /// Byte offset of `member` in `struct name`, looking through anonymous
    /// struct/union members; nil when absent or a bitfield.
    public func memberOffset(structure name: String, member: String) -> Int? {
        let types = index()
        for (id, entry) in types.enumerated() where id > 0 && entry.kind == .structure && string(entry.nameOffset) == name {
            if let bits = find(member, in: id, types: types) { return bits % 8 == 0 ? bits / 8 : nil }
        }
        return nil
    }

    private struct Entry { let kind: Kind?; let nameOffset: UInt32; let kindFlag: Bool; let start: Int; let vlen: Int }

    private func find(_ member: String, in id: Int, types: [Entry]) -> Int? {
        let entry = types[id]
        for i in 0..<entry.vlen {
            let at = entry.start + 12 + i * 12
            let nameOffset = KernelBTF.u32(bytes, at), type = Int(KernelBTF.u32(bytes, at + 4))
            let raw = KernelBTF.u32(bytes, at + 8)
            let bits = Int(entry.kindFlag ? raw & 0xffffff : raw)
            if nameOffset != 0 {
                if string(nameOffset) == member { return bits }
            } else if let inner = resolve(type, types: types), let found = find(member, in: inner, types: types) {
                return bits + found
            }
        }
        return nil
    }

    /// Follows typedefs and qualifiers to a struct or union.
    private func resolve(_ id: Int, types: [Entry]) -> Int? {
        var id = id
        for _ in 0..<16 {
            guard id > 0, id < types.count else { return nil }
            switch types[id].kind {
            case .structure?, .union?: return id
            case .typedef?, .volatile?, .const?, .restrict?, .typeTag?:
                id = Int(KernelBTF.u32(bytes, types[id].start + 8))
            default: return nil
            }
        }
        return nil
    }

    /// Every type's position; id 0 is void.
    private func index() -> [Entry] {
        var entries = [Entry(kind: nil, nameOffset: 0, kindFlag: false, start: 0, vlen: 0)]
        var at = typesStart
        while at + 12 <= typesEnd {
            let info = KernelBTF.u32(bytes, at + 4)
            let vlen = Int(info & 0xffff), kindRaw = (info >> 24) & 0x1f
            let kind = Kind(rawValue: kindRaw)
            entries.append(Entry(kind: kind, nameOffset: KernelBTF.u32(bytes, at), kindFlag: info >> 31 == 1,
                                 start: at, vlen: vlen))
            let extra: Int
            switch kind {
            case .int?, .variable?, .declTag?: extra = 4
            case .array?: extra = 12
            case .structure?, .union?, .dataSection?, .enum64?: extra = 12 * vlen
            case .enumeration?, .functionProto?: extra = 8 * vlen
            case .ptr?, .fwd?, .typedef?, .volatile?, .const?, .restrict?, .function?, .float?, .typeTag?: extra = 0
            case nil: return entries  // a kind this reader does not know: stop rather than misparse
            }
            at += 12 + extra
        }
        return entries
    }

    private func string(_ offset: UInt32) -> String {
        var at = stringsStart + Int(offset)
        let start = at
        while at < stringsEnd, bytes[at] != 0 { at += 1 }
        return String(decoding: bytes[start..<at], as: UTF8.self)
    }

    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
