import Foundation
import XCTest
@testable import PatchCore

final class TransitionLockTests: XCTestCase {
    func testSecondHolderIsRefusedWithTheFirstPid() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("lock").path
        var first: TransitionLock? = try TransitionLock(path: path)
        XCTAssertThrowsError(try TransitionLock(path: path)) { error in
            let e = error as? TransitionLockError
            XCTAssertEqual(e?.holder, Int(getpid()))
            XCTAssertTrue("\(error)".contains("is applying or reverting"), "\(error)")
        }
        first = nil
        XCTAssertNil(first)
        XCTAssertNoThrow(try TransitionLock(path: path))
    }
}

final class TransitionLockDirectoryTests: XCTestCase {
    func testMissingDirectoriesAreCreated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Like a /run without kpatchctl/ (or an early boot without /run at all).
        let path = dir.appendingPathComponent("run/kpatchctl/lock").path
        XCTAssertNoThrow(try TransitionLock(path: path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    func testADirectoryThatCannotBeMadeIsNamedWithoutBlamingPrivilege() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("not a directory".utf8).write(to: dir.appendingPathComponent("run"))
        XCTAssertThrowsError(try TransitionLock(path: dir.appendingPathComponent("run/kpatchctl/lock").path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("create directory \(dir.path)/run: Not a directory"), text)
            XCTAssertFalse(text.contains("needs root"), text)
        }
    }
}
