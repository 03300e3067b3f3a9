import XCTest
import TestSupport
@testable import PatchBuild

/// The kernel is built on with the compiler that built it: the host's when it prints the
/// config's CONFIG_CC_VERSION_TEXT, else a build root of the release's distribution, else
/// refused naming both compilers. The configs here carry the texts of Debian's own kernels.
final class CompilerCheckTests: XCTestCase {
    static let trixie = "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"
    static let bookworm = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"

    private func compiler(_ text: String) throws -> KernelCompiler {
        try KernelCompiler(configText: "CONFIG_X=y\nCONFIG_CC_VERSION_TEXT=\"\(text)\"\nCONFIG_CC_IS_GCC=y\n", configPath: "fixture")
    }

    func testTheConfigNamesTheCompilerAndItsDebianPackage() throws {
        let gcc14 = try compiler(Self.trixie)
        XCTAssertEqual(gcc14.command, "x86_64-linux-gnu-gcc-14")
        XCTAssertEqual(gcc14.debianPackage, "gcc-14")
        XCTAssertEqual(try compiler(Self.bookworm).debianPackage, "gcc-12")
        XCTAssertNil(try compiler("Debian clang version 19.1.7 (3)").debianPackage)
        XCTAssertNil(try compiler("gcc (GCC) 14.2.1 20250207").debianPackage)
        XCTAssertThrowsError(try KernelCompiler(configText: "CONFIG_X=y\n", configPath: "/x/.config")) { error in
            XCTAssertTrue("\(error)".contains("/x/.config has no CONFIG_CC_VERSION_TEXT"), "\(error)")
        }
    }

    func testTheDecision() throws {
        let gcc14 = try compiler(Self.trixie)
        XCTAssertEqual(gcc14.decide(hostVersion: Self.trixie, distribution: "trixie"), .host)
        XCTAssertEqual(gcc14.decide(hostVersion: nil, distribution: "trixie"), .buildRoot(distribution: "trixie", compilerPackage: "gcc-14"))
        // bookworm-backports' 6.12 is built with Debian 12's gcc-12: the host, no root.
        XCTAssertEqual(try compiler(Self.bookworm).decide(hostVersion: Self.bookworm, distribution: "bookworm"), .host)
        // Another point release of the same gcc: the release's build root has the right one.
        XCTAssertEqual(try compiler("gcc-12 (Debian 12.2.0-14) 12.2.0").decide(hostVersion: Self.bookworm, distribution: "bookworm"),
                       .buildRoot(distribution: "bookworm", compilerPackage: "gcc-12"))
        // Not a Debian release, or not Debian's gcc: refused, naming both compilers.
        guard case .refuse(let why) = gcc14.decide(hostVersion: "x86_64-linux-gnu-gcc-14 (Ubuntu 14.2.0-4ubuntu2) 14.2.0", distribution: nil) else {
            return XCTFail("not refused")
        }
        XCTAssertTrue(why.contains(Self.trixie) && why.contains("Ubuntu 14.2.0-4ubuntu2"), why)
        guard case .refuse(let clang) = try compiler("Debian clang version 19.1.7 (3)").decide(hostVersion: nil, distribution: "trixie") else {
            return XCTFail("clang not refused")
        }
        XCTAssertTrue(clang.contains("Debian clang version 19.1.7") && clang.contains("gcc-N only"), clang)
    }

    /// On this machine: Debian 12's own 6.1 builds with the host's gcc-12; a config naming a
    /// compiler nothing provides is refused before anything is compiled, naming both.
    func testThisMachine() throws {
        let store = KernelPackageStore(root: try TestBed.shared.scratch("toolchain"))
        defer { try? FileManager.default.removeItem(at: store.root) }
        let host = try Toolchain.select(config: TestBed.shared.headers.appendingPathComponent(".config"),
                                        release: TestBed.shared.kernelRelease, store: store, binds: []) { _ in }
        XCTAssertNil(host.buildRoot)
        XCTAssertEqual(host.compiler.command, "gcc-12")
        XCTAssertEqual(host.description, "host \(Self.bookworm)")
        XCTAssertEqual(host.command(["make", "-s"]), ["make", "-s"])
        let config = store.root.appendingPathComponent("config")
        try "CONFIG_CC_VERSION_TEXT=\"gcc-99 (Imaginary 99.0-1) 99.0\"\n".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Toolchain.select(config: config, release: "6.8.0-45-generic", store: store, binds: []) { _ in }) { error in
            guard case BuildError.compilerUnavailable? = error as? BuildError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("gcc-99 (Imaginary 99.0-1) 99.0") && "\(error)".contains("no gcc-99"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.root.appendingPathComponent("buildroot").path))
    }
}
