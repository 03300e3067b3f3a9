import XCTest
@testable import PatchModel

/// `build --cve/--description`: what is accepted, and the optional records that carry it.
final class PatchOperationsTests: XCTestCase {
    private func meta(_ ops: PatchOperations) -> PatchMetadata {
        PatchMetadata(arch: "x86_64", kernelRelease: "6.1.0-56-amd64", vermagic: "6.1.0-56-amd64 SMP ", targets: [],
                      patchName: "livepatch_fix", createdAt: 1, diffSHA256: "00", functions: [], toolVersion: "0.1.0",
                      operations: ops)
    }

    func testCVEsAreNormalizedAndDeduplicated() throws {
        let ops = try PatchOperations(cves: ["cve-2024-1086", "CVE-2023-0179", "CVE-2024-1086", "CVE-2021-4154012"],
                                      description: "  nf_tables: use-after-free in nft_verdict_init\nsecond line \n")
        XCTAssertEqual(ops.cves, ["CVE-2024-1086", "CVE-2023-0179", "CVE-2021-4154012"])
        XCTAssertEqual(ops.description, "nf_tables: use-after-free in nft_verdict_init\nsecond line")
        XCTAssertEqual(ops.summary, "nf_tables: use-after-free in nft_verdict_init")
    }

    func testBadValuesAreRefusedByName() {
        for bad in ["CVE-24-1086", "CVE-2024-108", "2024-1086", "CVE-2024-1086a", "CVE-2024-1086-1", "CVE-２０２４-1086"] {
            XCTAssertThrowsError(try PatchOperations(cves: [bad], description: nil), bad) {
                XCTAssertEqual($0 as? PatchOperationsError, .badCVE(bad))
                XCTAssertTrue("\($0)".contains("CVE-YYYY-NNNN"))
            }
        }
        XCTAssertThrowsError(try PatchOperations(cves: [], description: " \n")) {
            XCTAssertEqual($0 as? PatchOperationsError, .badDescription("it is empty"))
        }
        XCTAssertThrowsError(try PatchOperations(cves: [], description: "a\u{1b}[31mred")) {
            XCTAssertEqual($0 as? PatchOperationsError, .badDescription("it contains the control character U+1B"))
        }
        XCTAssertThrowsError(try PatchOperations(cves: [], description: String(repeating: "x", count: 1001)))
    }

    func testRecordsRoundTripAndOldPatchesHaveNone() throws {
        let ops = try PatchOperations(cves: ["CVE-2024-1086", "CVE-2023-0179"], description: "fix\nmore")
        let decoded = try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta(ops)))
        XCTAssertEqual(decoded.operations, ops)
        XCTAssertEqual(decoded.requiredFeatures, [], "the records are optional: no required bit")
        // A patch built before the records existed decodes with none.
        let old = try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta(.none)))
        XCTAssertEqual(old.operations, .none)
        XCTAssertEqual(old.operations.ifAny, nil)
        // An old reader skips records of unknown tags: the bytes before and after them decode the same.
        XCTAssertEqual(try PatchMetadataFormat.decode(PatchMetadataFormat.encode(meta(ops))).functions, old.functions)
    }

    func testHandMadeBadRecordIsRefused() throws {
        var bytes = PatchMetadataFormat.encode(meta(try PatchOperations(cves: ["CVE-2024-1086"], description: nil)))
        // Turn the CVE into something that is not one: same length, so the sizes stay right.
        let id = Array("CVE-2024-1086".utf8)
        let at = try XCTUnwrap((0...bytes.count - id.count).first { Array(bytes[$0..<$0 + id.count]) == id })
        bytes[at] = UInt8(ascii: "X")
        XCTAssertThrowsError(try PatchMetadataFormat.decode(bytes)) {
            guard case .badRecord(40, let why)? = $0 as? PatchMetadataError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("XVE-2024-1086"), why)
        }
    }
}
