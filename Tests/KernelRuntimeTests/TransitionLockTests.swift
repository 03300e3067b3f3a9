import Foundation
import XCTest
@testable import KernelRuntime
@testable import PatchModel

final class TransitionLockTests: XCTestCase {
    private func lockPath() -> (dir: URL, path: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        return (dir, dir.appendingPathComponent("lock").path)
    }

    /// Another process holds the lock (flock(1) on the same file, its record written
    /// as kpatchctl writes it): a second holder is refused naming that pid, and
    /// once the holder is killed with SIGKILL the lock is taken over and reported.
    private func startHolder(path: String, purpose: String) throws -> Process {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        // fd 9 keeps the flock across the exec: the holder is `sleep`, with the shell's pid.
        holder.arguments = ["-c", "exec 9<>\"$0\" && flock -x -n 9 && printf '%s\\n%s\\n' $$ \"$1\" >&9 && echo locked && exec sleep 60",
                            path, purpose]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        let line = String(decoding: out.fileHandleForReading.readData(ofLength: 7), as: UTF8.self)
        XCTAssertEqual(line, "locked\n", "the holder could not take the lock")
        return holder
    }

    func testSecondHolderIsRefusedNamingTheFirst() throws {
        let (dir, path) = lockPath()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let holder = try startHolder(path: path, purpose: "apply livepatch_a")
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() } }
        let first = LockHolder(pid: Int(holder.processIdentifier), purpose: "apply livepatch_a")
        XCTAssertThrowsError(try TransitionLock(path: path, purpose: "apply livepatch_b")) { error in
            let e = error as? TransitionLockError
            XCTAssertEqual(e?.errno, EWOULDBLOCK)
            XCTAssertEqual(e?.holder, first)
            XCTAssertEqual("\(error)", "kpatchctl apply livepatch_a (pid \(holder.processIdentifier)) holds the transition lock \(path): "
                           + "wait for it to finish (kpatchctl status)")
        }
        // The refused attempt left the holder's record alone.
        XCTAssertEqual(TransitionLock.recordedHolder(path: path), first)
        XCTAssertTrue(first.isRunning)
    }

    /// A holder killed with SIGKILL loses the flock but leaves its record: the next
    /// controller takes the lock and reports whose it was.
    func testRecordOfADeadHolderIsReclaimed() throws {
        let (dir, path) = lockPath()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let holder = try startHolder(path: path, purpose: "apply livepatch_dead")
        let dead = LockHolder(pid: Int(holder.processIdentifier), purpose: "apply livepatch_dead")
        XCTAssertThrowsError(try TransitionLock(path: path, purpose: "revert livepatch_dead"))
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        XCTAssertFalse(dead.isRunning)
        let lock = try TransitionLock(path: path, purpose: "revert livepatch_dead")
        XCTAssertEqual(lock.reclaimed, dead)
        let ours = LockHolder(pid: Int(getpid()), purpose: "revert livepatch_dead")
        XCTAssertEqual(TransitionLock.recordedHolder(path: path), ours)
        // Held by us now: another attempt is refused naming us.
        XCTAssertThrowsError(try TransitionLock(path: path, purpose: "apply livepatch_other")) { error in
            XCTAssertEqual((error as? TransitionLockError)?.holder, ours)
        }
        withExtendedLifetime(lock) {}
    }

    /// Released cleanly (the value goes), the lock is free and its record empty:
    /// the next holder has nothing to reclaim.
    func testCleanReleaseFreesTheLockWithNothingToReclaim() throws {
        let (dir, path) = lockPath()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let held = try TransitionLock(path: path, purpose: "apply livepatch_a")
            XCTAssertNil(held.reclaimed)
            try withExtendedLifetime(held) { XCTAssertThrowsError(try TransitionLock(path: path, purpose: "apply livepatch_b")) }
        }
        XCTAssertNil(TransitionLock.recordedHolder(path: path))
        let second = try TransitionLock(path: path, purpose: "revert livepatch_a")
        XCTAssertNil(second.reclaimed)
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
