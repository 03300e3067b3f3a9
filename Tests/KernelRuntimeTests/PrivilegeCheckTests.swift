import Foundation
import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// CAP_SYS_MODULE (bit 16) from the CapEff line of /proc/<pid>/status.
final class PrivilegeCheckTests: XCTestCase {
    private func status(capEff: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString)")
        try "Name:\tkpatchctl\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t\(capEff)\nCapBnd:\t000001ffffffffff\n"
            .write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testRootHasIt() throws {
        XCTAssertTrue(PrivilegeCheck.hasModuleCapability(statusPath: try status(capEff: "000001ffffffffff")))
        XCTAssertTrue(PrivilegeCheck.hasModuleCapability(statusPath: try status(capEff: "0000000000010000")))
    }

    func testOtherCapabilitiesAreNotEnough() throws {
        let path = try status(capEff: "000001fffffeffff")  // everything but bit 16
        XCTAssertFalse(PrivilegeCheck.hasModuleCapability(statusPath: path))
        let failure = try XCTUnwrap(PrivilegeCheck(statusPath: path).check())
        XCTAssertEqual(failure.check, "privilege")
        XCTAssertTrue(failure.reason.contains("CAP_SYS_MODULE"))
        XCTAssertTrue(failure.advice.contains("root"))
    }

    func testUnreadableStatusDenies() {
        XCTAssertFalse(PrivilegeCheck.hasModuleCapability(statusPath: "/nonexistent/status"))
    }
}
