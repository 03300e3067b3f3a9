import XCTest
import TestSupport
@testable import PatchBuild

/// The kernel tree must be built with the compiler that built the target.
final class CompilerCheckTests: XCTestCase {
    private func config(_ ccText: String) throws -> URL {
        let file = try TestBed.shared.scratch("cc").appendingPathComponent("config")
        try "CONFIG_X=y\nCONFIG_CC_VERSION_TEXT=\"\(ccText)\"\n".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func testTheTargetsOwnConfigNamesThisMachinesCompiler() throws {
        let headersConfig = TestBed.shared.headers.appendingPathComponent(".config")
        XCTAssertEqual(try KernelSourceTree.checkCompiler(config: headersConfig), "gcc-12")
    }

    func testAnotherCompilerVersionIsRefusedNamingBoth() throws {
        let other = try config("gcc-12 (Debian 12.2.0-14) 12.2.0")
        XCTAssertThrowsError(try KernelSourceTree.checkCompiler(config: other)) { error in
            guard case BuildError.compilerMismatch(let expected, let actual)? = error as? BuildError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(expected, "gcc-12 (Debian 12.2.0-14) 12.2.0")
            XCTAssertEqual(actual, "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0")
            XCTAssertTrue("\(error)".contains("install the target's compiler"))
        }
    }

    func testAMissingCompilerIsNamed() throws {
        let missing = try config("gcc-99 (Imaginary) 99.0")
        XCTAssertThrowsError(try KernelSourceTree.checkCompiler(config: missing)) { error in
            XCTAssertTrue("\(error)".contains("gcc-99 not found"), "\(error)")
        }
    }
}
