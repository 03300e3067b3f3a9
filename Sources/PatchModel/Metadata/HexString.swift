/// Lower-case hex of bytes (digests, build ids in names): the one spelling of it.
/// Also how the differ puts bytes into its comparison keys (injective, unlike a UTF-8
/// decoding), so it is built digit by digit rather than a String per byte.
public func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}

private let hexDigits = Array("0123456789abcdef".utf8)
