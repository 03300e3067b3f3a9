/// Little-endian writer and bounds-checked reader for the project's compact
/// binary formats (call-graph cache, kthread reachability). Reading never traps:
/// a short or inconsistent input throws.
package struct BinaryWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }
    package mutating func u8(_ value: UInt8) { bytes.append(value) }
    package mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    /// LEB128: small numbers (most indices) take one or two bytes.
    package mutating func varint(_ value: Int) {
        var rest = UInt64(value)
        repeat {
            let low = UInt8(rest & 0x7f)
            rest >>= 7
            bytes.append(rest == 0 ? low : low | 0x80)
        } while rest != 0
    }

    package mutating func string(_ value: String) {
        varint(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }

    /// A count then the elements' raw little-endian bytes (x86-64 and arm64 are little-endian).
    package mutating func array<T: FixedWidthInteger>(_ values: [T]) {
        u32(UInt32(values.count))
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

package struct BinaryReader {
    package struct Truncated: Error, CustomStringConvertible {
        package let offset: Int
        package let what: String
        package var description: String { "\(what) at byte \(offset) runs past the end" }
    }

    private let bytes: [UInt8]
    package private(set) var offset = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var atEnd: Bool { offset == bytes.count }

    package mutating func raw(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw Truncated(offset: offset, what: what) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    package mutating func u8(_ what: String) throws -> UInt8 { try raw(1, what).first! }
    package mutating func u16(_ what: String) throws -> UInt16 { try integer(what) }
    package mutating func u32(_ what: String) throws -> UInt32 { try integer(what) }

    private mutating func integer<T: FixedWidthInteger>(_ what: String) throws -> T {
        let slice = try raw(MemoryLayout<T>.size, what)
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: slice) }
        return T(littleEndian: value)
    }

    package mutating func varint(_ what: String) throws -> Int {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8(what)
            guard shift < 63 else { throw Truncated(offset: offset, what: "\(what) (varint too long)") }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        guard value <= UInt64(Int32.max) else { throw Truncated(offset: offset, what: "\(what) (value too large)") }
        return Int(value)
    }

    /// A count of items that each take at least one more byte: bounded by what is left.
    package mutating func count(_ what: String) throws -> Int {
        let value = try varint(what)
        guard value <= bytes.count - offset else { throw Truncated(offset: offset, what: "\(what) \(value)") }
        return value
    }

    package mutating func string(_ what: String) throws -> String {
        let count = try varint(what)
        return String(decoding: try raw(count, what), as: UTF8.self)
    }

    package mutating func array<T: FixedWidthInteger>(_ what: String) throws -> [T] {
        let count = Int(try u32(what))
        let slice = try raw(count * MemoryLayout<T>.size, what)
        var values = [T](repeating: 0, count: count)
        values.withUnsafeMutableBytes { $0.copyBytes(from: slice) }
        #if _endian(big)
        return values.map { T(littleEndian: $0) }
        #else
        return values
        #endif
    }
}
