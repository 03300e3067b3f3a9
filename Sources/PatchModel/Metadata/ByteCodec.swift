/// Little-endian byte writer for the patch metadata format.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u16(_ v: UInt16) { append(v) }
    mutating func u32(_ v: UInt32) { append(v) }
    mutating func u64(_ v: UInt64) { append(v) }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    /// A string as u32 length + UTF-8 bytes.
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        raw(utf8)
    }

    /// A byte blob as u32 length + bytes.
    mutating func blob(_ b: [UInt8]) {
        u32(UInt32(b.count))
        raw(b)
    }

    mutating func patch(u32 v: UInt32, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }
}

/// Bounds-checked little-endian reader over untrusted bytes: every read either
/// succeeds or throws `truncated` naming what was being read.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { end - offset }
    var atEnd: Bool { offset >= end }

    mutating func u16(_ what: String) throws -> UInt16 { try integer(what) }
    mutating func u32(_ what: String) throws -> UInt32 { try integer(what) }
    mutating func u64(_ what: String) throws -> UInt64 { try integer(what) }

    mutating func raw(_ count: Int, _ what: String) throws -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw PatchMetadataError.truncated(what: what, offset: offset)
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string(_ what: String) throws -> String {
        let length = Int(try u32("\(what) length"))
        let utf8 = try raw(length, what)
        guard let s = String(validating: utf8, as: UTF8.self) else {
            throw PatchMetadataError.badString(what: what)
        }
        return s
    }

    mutating func blob(_ what: String) throws -> [UInt8] {
        try raw(Int(try u32("\(what) length")), what)
    }

    /// A reader over the next `count` bytes; this reader skips past them.
    mutating func sub(_ count: Int, _ what: String) throws -> ByteReader {
        guard count >= 0, count <= remaining else {
            throw PatchMetadataError.truncated(what: what, offset: offset)
        }
        defer { offset += count }
        return ByteReader(bytes, offset: offset, end: offset + count)
    }

    private mutating func integer<T: FixedWidthInteger>(_ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw PatchMetadataError.truncated(what: what, offset: offset) }
        var v: T = 0
        for i in 0..<size { v |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return v
    }
}
