import Foundation
import XCTest
@testable import KernelRuntime
@testable import PatchModel

final class TransitionLockTests: XCTestCase {
    private func lockPath() -> (dir: URL, path: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        return (dir, dir.appendingPathComponent("lock").path)
    }

    func testSecondHolderIsRefusedNamingTheFirst() throws {
        let (dir, path) = lockPath()
        defer { try? FileManager.default.removeItem(at: dir) }
        var first: TransitionLock? = try TransitionLock(path: path, purpose: "apply livepatch_a")
        XCTAssertNil(first?.reclaimed)
        XCTAssertEqual(TransitionLock.recordedHolder(path: path), LockHolder(pid: Int(getpid()), purpose: "apply livepatch_a"))
        XCTAssertThrowsError(try TransitionLock(path: path, purpose: "apply livepatch_b")) { error in
            let e = error as? TransitionLockError
            XCTAssertEqual(e?.holder, LockHolder(pid: Int(getpid()), purpose: "apply livepatch_a"))
            XCTAssertEqual("\(error)", "kpatchctl apply livepatch_a (pid \(getpid())) holds the transition lock \(path): "
                           + "wait for it to finish (kpatchctl status)")
        }
        first = nil
        XCTAssertNil(first)
        // A clean release empties the record: nothing to reclaim.
        XCTAssertNil(TransitionLock.recordedHolder(path: path))
        let second = try TransitionLock(path: path, purpose: "revert livepatch_a")
        XCTAssertNil(second.reclaimed)
    }

    /// A holder killed with SIGKILL loses the flock but leaves its record: the next
    /// controller takes the lock and reports whose it was.
    func testRecordOfADeadHolderIsReclaimed() throws {
        let (dir, path) = lockPath()
        defer { try? FileManager.default.removeItem(at: dir) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "\(child.processIdentifier)\napply livepatch_dead\n".write(toFile: path, atomically: true, encoding: .utf8)
        let dead = try XCTUnwrap(TransitionLock.recordedHolder(path: path))
        XCTAssertFalse(dead.isRunning)
        let lock = try TransitionLock(path: path, purpose: "revert livepatch_dead")
        XCTAssertEqual(lock.reclaimed, LockHolder(pid: Int(child.processIdentifier), purpose: "apply livepatch_dead"))
        XCTAssertEqual(TransitionLock.recordedHolder(path: path)?.purpose, "revert livepatch_dead")
        XCTAssertTrue(TransitionLock.recordedHolder(path: path)?.isRunning ?? false)
    }
}

final class TransitionLockDirectoryTests: XCTestCase {
    func testMissingDirectoriesAreCreated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Like a /run without kpatchctl/ (or an early boot without /run at all).
        let path = dir.appendingPathComponent("run/kpatchctl/lock").path
        XCTAssertNoThrow(try TransitionLock(path: path, purpose: "test"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    func testADirectoryThatCannotBeMadeIsNamedWithoutBlamingPrivilege() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("not a directory".utf8).write(to: dir.appendingPathComponent("run"))
        XCTAssertThrowsError(try TransitionLock(path: dir.appendingPathComponent("run/kpatchctl/lock").path, purpose: "test")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("create directory \(dir.path)/run: Not a directory"), text)
            XCTAssertFalse(text.contains("needs root"), text)
        }
    }
}
