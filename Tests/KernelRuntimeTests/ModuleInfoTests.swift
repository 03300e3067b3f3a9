import Foundation
import XCTest
import TestSupport
@testable import KernelRuntime
@testable import PatchModel

/// .modinfo of a livepatch fixture compiled at test time against the pinned
/// headers, and refusals of files that are not modules.
final class ModuleInfoTests: XCTestCase {
    func testReadsNameVermagicAndLivepatchFlag() throws {
        let bed = TestBed.shared
        let dir = try KbuildModule().build("modinfo", sources: bed.root.appendingPathComponent("Tests/Fixtures/livepatch-sum"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let info = try KernelModuleFile.forLoading(path: dir.appendingPathComponent("livepatch_sum.ko").path)
        XCTAssertEqual(info.name, "livepatch_sum")
        XCTAssertTrue(info.isLivepatch)
        XCTAssertEqual(info.vermagic?.split(separator: " ").first.map(String.init), bed.kernelRelease)
        XCTAssertEqual(info.value("license"), "GPL")
    }

    func testRefusesTextAndTruncatedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modinfo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("text.ko")
        try "not a module\n".write(to: text, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KernelModuleFile.forLoading(path: text.path)) { error in
            guard case ModuleInfoError.notELF? = error as? ModuleInfoError else { return XCTFail("\(error)") }
        }
        // A real ELF header cut short: libelf cannot find the section table.
        let truncated = dir.appendingPathComponent("truncated.ko")
        let selfBinary = try Data(contentsOf: URL(fileURLWithPath: "/proc/self/exe"))
        try selfBinary.prefix(64).write(to: truncated)
        XCTAssertThrowsError(try KernelModuleFile.forLoading(path: truncated.path))
        XCTAssertThrowsError(try KernelModuleFile.forLoading(path: dir.appendingPathComponent("missing.ko").path)) { error in
            XCTAssertTrue("\(error)".contains("No such file"), "\(error)")
        }
    }

    func testExecutableIsNotAModule() throws {
        XCTAssertThrowsError(try KernelModuleFile.forLoading(path: "/proc/self/exe")) { error in
            guard case ModuleInfoError.notModule? = error as? ModuleInfoError else { return XCTFail("\(error)") }
        }
    }
}
