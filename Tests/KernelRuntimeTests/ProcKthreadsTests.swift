import Foundation
import TestSupport
import XCTest
@testable import KernelRuntime
@testable import KthreadSafety

/// The live-kthread reader, on a fixture proc tree.
final class ProcKthreadsTests: XCTestCase {
    static let tickStat = ProcFixtures.tickStat
    static let tickStack = ProcFixtures.tickStack

    func testProcReaderOnAFixtureTree() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kpatch-proc-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        for (pid, stat, stack) in [(212, Self.tickStat, Self.tickStack),
                                   (300, "300 (sh) S 1 300 300 0 -1 4194560 0 0 0\n", "")] {
            let dir = root.appendingPathComponent(String(pid))
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try stat.write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
            try stack.write(to: dir.appendingPathComponent("stack"), atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("self"), withIntermediateDirectories: true)
        let threads = try ProcKthreads.read(procRoot: root)
        XCTAssertEqual(threads.map(\.pid), [212])
        XCTAssertEqual(threads.first?.entry, "kpvictim_tick_fn")
    }

    /// A kthread running on a CPU shows an empty /proc/PID/stack: it is read again, so one
    /// that stops a few milliseconds later gets its entry; one that stays empty through every
    /// read stays unknown, saying why.
    func testEmptyStackIsReadAgain() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kpatch-proc-empty-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let later = root.appendingPathComponent("212"), never = root.appendingPathComponent("213")
        for (dir, pid) in [(later, 212), (never, 213)] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Self.tickStat.replacingOccurrences(of: "212 (", with: "\(pid) (")
                .write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
            try "".write(to: dir.appendingPathComponent("stack"), atomically: true, encoding: .utf8)
        }
        let stackAppears = Thread {
            Thread.sleep(forTimeInterval: 0.02)
            try? Self.tickStack.write(to: later.appendingPathComponent("stack"), atomically: true, encoding: .utf8)
        }
        stackAppears.start()
        let threads = try ProcKthreads.read(procRoot: root)
        XCTAssertEqual(threads.map(\.pid), [212, 213])
        XCTAssertEqual(threads.first?.entry, "kpvictim_tick_fn")
        XCTAssertNil(threads.last?.entry)
        XCTAssertTrue(threads.last?.conversion.reason.contains("running on a CPU when read") ?? false, "\(String(describing: threads.last))")
    }
}
