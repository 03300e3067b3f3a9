import XCTest
import TestSupport
@testable import PatchBuild

/// What differs in building for Debian's 6.12 kernels (IBT, objtool on linked modules only),
/// checked without the 6.12 test bed: configs and objects made here.
final class Kernel612BuildTests: XCTestCase {
    private func headers(_ config: String) throws -> URL {
        let dir = try TestBed.shared.scratch("k612-headers")
        try config.write(to: dir.appendingPathComponent(".config"), atomically: true, encoding: .utf8)
        return dir
    }

    func testIBTAndClangLTOKernelsDeferObjtoolToTheLinkedModule() throws {
        XCTAssertTrue(try ObjtoolDeferral.isDeferred(headers: try headers("CONFIG_X=y\nCONFIG_X86_KERNEL_IBT=y\n")))
        XCTAssertTrue(try ObjtoolDeferral.isDeferred(headers: try headers("CONFIG_LTO_CLANG=y\n")))
        XCTAssertFalse(try ObjtoolDeferral.isDeferred(headers: try headers("# CONFIG_X86_KERNEL_IBT is not set\n")))
        // Debian 12's 6.1 runs objtool on each object.
        XCTAssertFalse(try ObjtoolDeferral.isDeferred(headers: TestBed.shared.headers))
        // Headers without a config: the build stops naming the file rather than guessing.
        let empty = try TestBed.shared.scratch("k612-noconfig")
        XCTAssertThrowsError(try ObjtoolDeferral.isDeferred(headers: empty)) { error in
            XCTAssertTrue("\(error)".contains(empty.appendingPathComponent(".config").path), "\(error)")
        }
    }

    func testStrippingRemovesObjtoolsSectionsAndKeepsTheCode() throws {
        let dir = try TestBed.shared.scratch("k612-strip")
        let source = dir.appendingPathComponent("f.s")
        try """
            .section .text.f,"ax",@progbits
            .globl f
            f: endbr64
               jmp __x86_return_thunk
            .section .return_sites,"a",@progbits
            .long f + 4 - .
            .section .orc_unwind_ip,"a",@progbits
            .long f - .
            """.write(to: source, atomically: true, encoding: .utf8)
        let object = dir.appendingPathComponent("f.o")
        _ = try CommandRunner.check(.link, ["as", "-o", object.path, source.path])
        try ObjtoolDeferral.strip(object)
        let sections = try CommandRunner.check(.link, ["readelf", "-SW", object.path])
        XCTAssertTrue(sections.contains(".text.f"), sections)
        for gone in [".return_sites", ".rela.return_sites", ".orc_unwind_ip"] {
            XCTAssertFalse(sections.contains(" \(gone) "), "\(gone) left in\n\(sections)")
        }
    }
}
