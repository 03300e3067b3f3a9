import XCTest
import TestSupport
@testable import PatchModel

final class KernelModuleFileTests: XCTestCase {
    func testReadsModinfoBuildIDAndUndefinedSymbolsOfARealModule() throws {
        let bed = TestBed.shared
        let dir = try KbuildModule().build("modfile", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let ko = dir.appendingPathComponent("kpvictim.ko").path
        let module = try KernelModuleFile(path: ko)
        XCTAssertEqual(module.name, "kpvictim")
        XCTAssertEqual(module.vermagic?.hasPrefix(bed.kernelRelease + " "), true, "\(module.vermagic ?? "nil")")
        XCTAssertFalse(module.isLivepatch)
        XCTAssertTrue(module.undefinedSymbols.contains("__fentry__"))
        XCTAssertTrue(module.undefinedSymbols.contains("kthread_create_on_node"))
        XCTAssertTrue(module.livepatchSymbols.isEmpty)
        // The build id readelf prints for the same file.
        let readelf = try runChecked(["readelf", "-n", ko])
        let expected = readelf.split(separator: "\n").first { $0.contains("Build ID:") }
            .map { String($0.split(separator: " ").last!) }
        XCTAssertEqual(module.buildID, expected)
        XCTAssertThrowsError(try module.patchMetadata()) {
            XCTAssertEqual($0 as? PatchMetadataError, .noMetadataSection(file: ko))
        }
    }

    func testNonELFIsATypedError() throws {
        let file = try TestBed.shared.scratch("notelf").appendingPathComponent("x.ko")
        try Data("not an ELF file at all".utf8).write(to: file)
        XCTAssertThrowsError(try KernelModuleFile(path: file.path)) { XCTAssertTrue($0 is ELFError, "\($0)") }
    }

    func testModinfoParsing() {
        let bytes = Array("license=GPL\0\0name=x\0vermagic=6.1 SMP \0junk\0".utf8)
        let info = KernelModuleFile.parseModinfo(bytes)
        XCTAssertEqual(info.map(\.key), ["license", "name", "vermagic"])
        XCTAssertEqual(info.last?.value, "6.1 SMP ")
    }
}
