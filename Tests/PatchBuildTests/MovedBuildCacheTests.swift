import XCTest
import TestSupport

/// A build cache moved (or copied) to another path: its original module trees were built
/// at the old path, which Kbuild's `.mod` and `.cmd` files name. The next build makes the
/// tree again at the new path instead of reading the old one as "nothing to patch".
final class MovedBuildCacheTests: XCTestCase {
    func testMovedCacheBuildsTheOriginalAgain() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("movedcache")
        defer { try? FileManager.default.removeItem(at: work) }
        let diff = bed.root.appendingPathComponent("examples/kpvictim/fix.diff")
        let source = bed.root.appendingPathComponent("examples/kpvictim")
        let first = work.appendingPathComponent("cache")
        let out = work.appendingPathComponent("fix.ko")
        let built = try KpatchctlBinary().buildModulePatch(diff: diff, moduleSource: source, output: out, cache: first)
        XCTAssertEqual(built.status, 0, built.output)

        let moved = work.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: first, to: moved)
        try FileManager.default.removeItem(at: out)
        let again = try KpatchctlBinary().buildModulePatch(diff: diff, moduleSource: source, output: out, cache: moved)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertFalse(again.output.contains("nothing to patch"), again.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
        let stamps = try FileManager.default.subpathsOfDirectory(atPath: moved.path).filter { $0.hasSuffix("tree/.kpatchctl-complete") }
        XCTAssertEqual(stamps.count, 1, "\(stamps)")
        let builtAt = try String(contentsOf: moved.appendingPathComponent(stamps[0]), encoding: .utf8)
        XCTAssertEqual(builtAt, moved.appendingPathComponent(stamps[0]).deletingLastPathComponent().standardizedFileURL.path)
    }
}
