import XCTest
import TestSupport
@testable import PatchBuild
import PatchModel

/// Modules as Debian installs them: 6.12's are `.ko.xz`, 6.1's `.ko`. A build finds a target
/// module by its Kbuild name either way and reads the decompressed copy.
final class ModuleFileTests: XCTestCase {
    func testModuleNamesIgnoreCompressionAndDashes() {
        XCTAssertEqual(ModuleFile.moduleName(of: "binfmt_misc.ko"), "binfmt_misc")
        XCTAssertEqual(ModuleFile.moduleName(of: "binfmt_misc.ko.xz"), "binfmt_misc")
        XCTAssertEqual(ModuleFile.moduleName(of: "twofish-x86_64-3way.ko.zst"), "twofish_x86_64_3way")
        XCTAssertEqual(ModuleFile.moduleName(of: "nls_utf8.ko.gz"), "nls_utf8")
        XCTAssertNil(ModuleFile.moduleName(of: "modules.dep"))
        XCTAssertNil(ModuleFile.moduleName(of: "binfmt_misc.ko.bz2"))
        XCTAssertNil(ModuleFile.moduleName(of: "binfmt_misc.o"))
    }

    /// An object gcc compiled, installed as `demo-mod.ko.xz` the way Debian's 6.12 packages
    /// install modules: read back byte for byte (and as ELF) from the build's directory.
    func testCompressedModuleIsReadFromItsDecompressedCopy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modulefile-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let source = dir.appendingPathComponent("demo.c")
        try "int demo(int x) { return x + 1; }\n".write(to: source, atomically: true, encoding: .utf8)
        let ko = dir.appendingPathComponent("demo-mod.ko")
        _ = try runChecked(["gcc", "-c", "-O2", source.path, "-o", ko.path])
        let plain = try Data(contentsOf: ko)
        _ = try runChecked(["xz", ko.path])
        let installed = dir.appendingPathComponent("demo-mod.ko.xz")
        XCTAssertFalse(FileManager.default.fileExists(atPath: ko.path))

        let work = dir.appendingPathComponent("work")
        let readable = try ModuleFile.readable(installed, in: work)
        XCTAssertEqual(readable.lastPathComponent, "demo-mod.ko")
        XCTAssertEqual(try Data(contentsOf: readable), plain)
        XCTAssertNotNil(try ELFObject(url: readable).symbolTable)
        XCTAssertTrue(FileManager.default.fileExists(atPath: installed.path), "the installed module was changed")
        // A plain module is read where it is.
        XCTAssertEqual(try ModuleFile.readable(readable, in: work), readable)
    }
}
