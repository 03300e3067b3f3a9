import XCTest
@testable import PatchModel

final class PatchMetadataFormatTests: XCTestCase {
    private func sample(reach: [[UInt8]] = [[1, 2, 3], [4]]) -> PatchMetadata {
        PatchMetadata(
            arch: "x86_64", kernelRelease: "6.1.0-56-amd64",
            vermagic: "6.1.0-56-amd64 SMP preempt mod_unload modversions ",
            targets: [.init(object: "kpvictim", buildID: "f2e2f8ff0373d4a80377aea244ec5b780cbd838d"),
                      .init(object: "vmlinux", buildID: nil)],
            patchName: "livepatch_fix", createdAt: 1_795_000_000,
            diffSHA256: String(repeating: "ab", count: 32),
            functions: [.init(object: "kpvictim", name: "kpvictim_sum", sympos: 0, newSymbol: "kpvictim_sum"),
                        .init(object: "vmlinux", name: "s_show", sympos: 3, newSymbol: "s_show"),
                        .init(object: "vmlinux", name: "__x64_sys_newuname", sympos: 0, newSymbol: "klp_new___x64_sys_newuname",
                              reason: ChangeReason(.notraceCallee, "__do_sys_newuname")),
                        .init(object: "vmlinux", name: "seq_show", sympos: 1, newSymbol: "klp_new_seq_show_1",
                              reason: ChangeReason(.code))],
            toolVersion: "0.1.0", kthreadReachability: reach)
    }

    func testRoundTripKeepsEveryField() throws {
        let meta = sample()
        let decoded = try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta))
        XCTAssertEqual(decoded, meta)
        XCTAssertTrue(decoded.optionalFeatures.contains(.kthreadReachability))
        XCTAssertEqual(try PatchMetadataFormat.decode(PatchMetadataFormat.encode(sample(reach: []))).kthreadReachability, [])
    }

    /// Record 11 says where the objects were compiled; a patch built before it has none,
    /// and the format version stays 1, so readers that predate it skip the record.
    func testTheToolchainRecordIsOptional() throws {
        var meta = sample()
        meta.toolchain = "build root trixie (/var/cache/kpatchctl/buildroot/trixie): x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"
        let bytes = PatchMetadataFormat.encode(meta)
        XCTAssertEqual(try PatchMetadataFormat.decode(bytes).toolchain, meta.toolchain)
        XCTAssertEqual(bytes[8], 1)
        XCTAssertNil(try PatchMetadataFormat.decode(PatchMetadataFormat.encode(sample())).toolchain)
        XCTAssertEqual(PatchMetadataFormat.encode(sample()).count + 8 + 4 + meta.toolchain!.utf8.count, bytes.count)
    }

    func testMagicAndVersionAreTheImmutableHeader() {
        let bytes = PatchMetadataFormat.encode(sample())
        XCTAssertEqual(Array(bytes[0..<8]), Array("KPCTLMD\0".utf8))
        XCTAssertEqual(bytes[8], 1)
        XCTAssertEqual(Int(bytes[12]) | Int(bytes[13]) << 8, bytes.count)
    }

    func testUnknownRequiredFeatureRefuses() {
        var meta = sample()
        meta.requiredFeatures = PatchFeatures(rawValue: 1 << 40)
        XCTAssertThrowsError(try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta))) {
            XCTAssertEqual($0 as? PatchMetadataError, .unknownRequiredFeatures(1 << 40))
        }
    }

    func testUnknownOptionalFeatureAndUnknownRecordAreIgnored() throws {
        var meta = sample()
        meta.optionalFeatures.insert(PatchFeatures(rawValue: 1 << 63))
        var bytes = PatchMetadataFormat.encode(meta)
        // Append a record of a tag no reader knows yet and fix the total size.
        bytes += [0xee, 0x7f, 0, 0, 3, 0, 0, 0, 9, 9, 9]
        let total = UInt32(bytes.count)
        for i in 0..<4 { bytes[12 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt32(i))) }
        let decoded = try PatchMetadataFormat.decode(bytes)
        XCTAssertEqual(decoded.functions, meta.functions)
        XCTAssertTrue(decoded.optionalFeatures.contains(PatchFeatures(rawValue: 1 << 63)))
    }

    func testNewerVersionAndBadMagicRefuse() {
        var bytes = PatchMetadataFormat.encode(sample())
        bytes[8] = 2
        XCTAssertThrowsError(try PatchMetadataFormat.decode(bytes)) {
            XCTAssertEqual($0 as? PatchMetadataError, .unsupportedVersion(2))
        }
        XCTAssertThrowsError(try PatchMetadataFormat.decode(Array("ELF-NOT-META-AT-ALL".utf8))) {
            guard case .badMagic = $0 as? PatchMetadataError else { return XCTFail("\($0)") }
        }
    }

    func testEveryTruncationIsATypedError() {
        let bytes = PatchMetadataFormat.encode(sample())
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try PatchMetadataFormat.decode(Array(bytes[0..<length])), "length \(length)") {
                XCTAssertNotNil($0 as? PatchMetadataError, "length \(length): \($0)")
            }
        }
    }

    func testMissingRequiredRecordIsNamed() {
        var w = ByteWriter()
        w.raw(PatchMetadataFormat.magic); w.u16(1); w.u16(0); w.u32(32); w.u64(0); w.u64(0)
        XCTAssertThrowsError(try PatchMetadataFormat.decode(w.bytes)) {
            XCTAssertEqual($0 as? PatchMetadataError, .missingRecord("arch"))
        }
    }
}
