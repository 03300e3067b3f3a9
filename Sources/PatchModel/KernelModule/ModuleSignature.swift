/// The signature `scripts/sign-file` appends to a module, as the kernel reads it
/// (kernel/module/signing.c, include/linux/module_signature.h): the PKCS#7/CMS
/// SignedData, then `struct module_signature` (12 bytes, the length big-endian),
/// then the marker. The signer is what `modinfo` shows: the issuer's common name
/// and the serial number of the certificate the signer info names.
public struct ModuleSignature: Codable, Equatable, Sendable {
    public static let marker = Array("~Module signature appended~\n".utf8)
    /// PKEY_ID_PKCS7, the only kind sign-file writes since Linux 4.x.
    static let pkcs7IDType: UInt8 = 2

    /// The issuer's CN (else its O), as the kernel's `signer` in modinfo.
    public let signer: String
    /// The certificate's serial number, hex, as modinfo's `sig_key`.
    public let serial: String
    /// `sha256`, `sha512`, ... from the signer info's digest algorithm.
    public let hashAlgorithm: String
    public let signatureBytes: Int

    /// nil when the file ends without the marker (not signed); throws when the marker is
    /// there but what precedes it is not a signature the kernel would parse.
    public static func read(_ bytes: [UInt8]) throws -> ModuleSignature? {
        guard bytes.count >= marker.count + 12, bytes.suffix(marker.count).elementsEqual(marker) else { return nil }
        let info = Array(bytes[(bytes.count - marker.count - 12)..<(bytes.count - marker.count)])
        guard info[2] == pkcs7IDType else { throw ModuleSignatureError.unsupported("id_type \(info[2]) (sign-file writes 2, PKCS#7)") }
        let length = info[8...11].reduce(0) { $0 << 8 | Int($1) }
        guard length > 0, length <= bytes.count - marker.count - 12 else {
            throw ModuleSignatureError.malformed("signature length \(length) does not fit the file")
        }
        let end = bytes.count - marker.count - 12
        return try parse(DER(bytes: Array(bytes[(end - length)..<end])), length: length)
    }

    private static func parse(_ der: DER, length: Int) throws -> ModuleSignature {
        // ContentInfo { contentType OID signedData, [0] EXPLICIT SignedData }
        let parts = try der.children(of: try der.element(at: 0, tag: 0x30))
        guard parts.count == 2, parts[1].tag == 0xa0, let signedData = try der.children(of: parts[1]).first, signedData.tag == 0x30 else {
            throw ModuleSignatureError.malformed("not a CMS SignedData")
        }
        // SignedData { version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos }
        guard let signerInfos = try der.children(of: signedData).last, signerInfos.tag == 0x31,
              let signerInfo = try der.children(of: signerInfos).first, signerInfo.tag == 0x30 else {
            throw ModuleSignatureError.malformed("no signer info")
        }
        let fields = try der.children(of: signerInfo)
        guard fields.count >= 3 else { throw ModuleSignatureError.malformed("a signer info of \(fields.count) fields") }
        // sid: IssuerAndSerialNumber { issuer Name, serialNumber INTEGER } or [0] subjectKeyIdentifier.
        let signer: String, serial: String
        switch fields[1].tag {
        case 0x30:
            let sid = try der.children(of: fields[1])
            guard sid.count == 2 else { throw ModuleSignatureError.malformed("issuer and serial of \(sid.count) fields") }
            signer = try issuerName(der, sid[0])
            serial = hex(der.content(of: sid[1]))
        case 0x80:
            signer = "(key identifier)"
            serial = hex(der.content(of: fields[1]))
        default:
            throw ModuleSignatureError.malformed("signer identifier tag 0x\(String(fields[1].tag, radix: 16))")
        }
        let algorithm = try der.children(of: fields[2]).first.map { der.content(of: $0) } ?? []
        return ModuleSignature(signer: signer, serial: serial, hashAlgorithm: digestNames[algorithm] ?? "oid " + hex(algorithm),
                               signatureBytes: length)
    }

    /// Name = SEQUENCE OF SET OF { type OID, value }: the CN, else the O.
    private static func issuerName(_ der: DER, _ name: DER.Element) throws -> String {
        var found: [[UInt8]: String] = [:]
        for rdn in try der.children(of: name) {
            for attribute in try der.children(of: rdn) {
                let pair = try der.children(of: attribute)
                guard pair.count == 2 else { continue }
                found[der.content(of: pair[0])] = String(decoding: der.content(of: pair[1]), as: UTF8.self)
            }
        }
        return found[[0x55, 0x04, 0x03]] ?? found[[0x55, 0x04, 0x0a]] ?? "(no CN or O)"
    }

    private static let digestNames: [[UInt8]: String] = [
        [0x2b, 0x0e, 0x03, 0x02, 0x1a]: "sha1",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04]: "sha224",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]: "sha256",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02]: "sha384",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03]: "sha512",
    ]

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.drop { $0 == 0 }.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

public enum ModuleSignatureError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "the appended module signature is malformed: \(why)"
        case .unsupported(let why): return "the appended module signature is of a kind kpatchctl does not read: \(why)"
        }
    }
}

/// Just enough DER (definite lengths of up to four bytes) to walk a CMS SignedData.
struct DER {
    struct Element {
        let tag: UInt8
        let content: Int
        let length: Int
    }

    let bytes: [UInt8]

    func element(at offset: Int, tag: UInt8?) throws -> Element {
        guard offset + 2 <= bytes.count else { throw ModuleSignatureError.malformed("truncated at byte \(offset)") }
        let t = bytes[offset]
        if let tag, t != tag {
            throw ModuleSignatureError.malformed("tag 0x\(String(t, radix: 16)) at byte \(offset), expected 0x\(String(tag, radix: 16))")
        }
        var length = Int(bytes[offset + 1]), content = offset + 2
        if length & 0x80 != 0 {
            let count = length & 0x7f
            guard count >= 1, count <= 4, content + count <= bytes.count else {
                throw ModuleSignatureError.malformed("length of \(count) bytes at byte \(offset)")
            }
            length = bytes[content..<(content + count)].reduce(0) { $0 << 8 | Int($1) }
            content += count
        }
        guard content + length <= bytes.count else { throw ModuleSignatureError.malformed("element at byte \(offset) runs past the end") }
        return Element(tag: t, content: content, length: length)
    }

    func children(of parent: Element) throws -> [Element] {
        var result: [Element] = [], offset = parent.content
        while offset < parent.content + parent.length {
            let child = try element(at: offset, tag: nil)
            result.append(child)
            offset = child.content + child.length
        }
        return result
    }

    func content(of element: Element) -> [UInt8] { Array(bytes[element.content..<(element.content + element.length)]) }
}
