import XCTest
@testable import PatchModel

final class ELFLibraryTests: XCTestCase {
    func testLibelfInitializesAndReportsElfutilsVersion() {
        XCTAssertTrue(ELFLibrary.ensureInitialized())
        XCTAssertTrue(ELFLibrary.version.hasPrefix("0."), "elfutils version was \(ELFLibrary.version)")
    }
}
