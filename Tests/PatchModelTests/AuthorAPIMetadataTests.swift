import XCTest
@testable import PatchModel

/// The author API's part of the patch format (callbacks, states, the replace
/// bit) and the system-state rule apply checks before loading.
final class AuthorAPIMetadataTests: XCTestCase {
    private func meta(replace: Bool, callbacks: [PatchCallback] = [], states: [SystemState] = []) -> PatchMetadata {
        PatchMetadata(arch: "x86_64", kernelRelease: "6.1.0-56-amd64", vermagic: "6.1.0-56-amd64 SMP ",
                      targets: [.init(object: "kpvictim", buildID: nil)], patchName: "livepatch_v2",
                      createdAt: 1_795_000_000, diffSHA256: String(repeating: "cd", count: 32),
                      functions: [.init(object: "kpvictim", name: "kpvictim_show", sympos: 0, newSymbol: "kpvictim_show")],
                      toolVersion: "0.1.0", replace: replace, callbacks: callbacks, states: states)
    }

    func testCallbacksStatesAndReplaceRoundTrip() throws {
        let callbacks = [PatchCallback(object: "kpvictim", kind: .prePatch, function: "pre", newSymbol: "kpatchctl_callback_kpvictim_pre_patch"),
                         PatchCallback(object: "vmlinux", kind: .postUnpatch, function: "post", newSymbol: "kpatchctl_callback_vmlinux_post_unpatch")]
        let states = [SystemState(id: 1, version: 2), SystemState(id: 0xdead_beef_0000, version: 7)]
        let original = meta(replace: true, callbacks: callbacks, states: states)
        let decoded = try PatchMetadataFormat.decode(PatchMetadataFormat.encode(original))
        XCTAssertEqual(decoded, original)
        XCTAssertTrue(decoded.replacesAll)
        XCTAssertEqual(decoded.requiredFeatures, [.replace])
        XCTAssertEqual(decoded.optionalFeatures, [.callbacks, .states])
        let plain = try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta(replace: false)))
        XCTAssertFalse(plain.replacesAll)
        XCTAssertEqual(plain.requiredFeatures, [])
        XCTAssertEqual(plain.optionalFeatures, [])
    }

    func testReplaceIsTheOnlyKnownRequiredBit() {
        var bytes = PatchMetadataFormat.encode(meta(replace: true))
        bytes[16] |= 1 << 4  // a required bit nobody defined
        XCTAssertThrowsError(try PatchMetadataFormat.decode(bytes)) { error in
            XCTAssertEqual(error as? PatchMetadataError, .unknownRequiredFeatures(1 << 4))
        }
    }

    func testUnknownCallbackKindIsAMalformedRecord() {
        let bad = meta(replace: false, callbacks: [PatchCallback(object: "kpvictim", kind: .prePatch, function: "f", newSymbol: "s")])
        var bytes = PatchMetadataFormat.encode(bad)
        let kind = Array("pre_patch".utf8)
        let at = try! XCTUnwrap((0...(bytes.count - kind.count)).first { Array(bytes[$0..<$0 + kind.count]) == kind })
        bytes[at] = UInt8(ascii: "x")
        XCTAssertThrowsError(try PatchMetadataFormat.decode(bytes)) { error in
            guard case .badRecord(let tag, let why)? = error as? PatchMetadataError else { return XCTFail("\(error)") }
            XCTAssertEqual(tag, 20)
            XCTAssertTrue(why.contains("xre_patch"), why)
        }
    }
}
