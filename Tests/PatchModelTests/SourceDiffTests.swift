import XCTest
@testable import PatchModel

final class SourceDiffTests: XCTestCase {
    func testKpvictimFixTouchesOneFile() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/kpvictim/fix.diff").standardized
        let text = try String(contentsOf: url, encoding: .utf8)
        let diff = try SourceDiff(text: text)
        XCTAssertEqual(diff.changes, [.modified("kpvictim.c")])
        XCTAssertEqual(diff.sha256.count, 64)
    }

    func testAddedRemovedAndGitStyleHeaders() throws {
        let text = """
        diff --git a/x/new.c b/x/new.c
        --- /dev/null
        +++ b/x/new.c
        @@ -0,0 +1 @@
        +int x;
        --- a/old.h\t2024-01-01 00:00:00
        +++ /dev/null
        @@ -1 +0,0 @@
        -int y;
        --- a/m.c
        +++ b/m.c
        @@ -1 +1 @@
        -a
        +b
        """
        XCTAssertEqual(try SourceDiff(text: text).changes, [.added("x/new.c"), .removed("old.h"), .modified("m.c")])
    }

    func testSHA256IsOfTheBytes() throws {
        let a = try SourceDiff(text: "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
        let b = try SourceDiff(text: "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+c\n")
        XCTAssertNotEqual(a.sha256, b.sha256)
        // `printf -- "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n" | sha256sum`
        XCTAssertEqual(a.sha256, "f877365d4a176e0ab1bc2ef268bbf9c64a7e9103f4a4e51bb201990e66553af3")
    }

    func testRefusals() {
        XCTAssertThrowsError(try SourceDiff(text: "hello\n", origin: "x.diff")) {
            XCTAssertEqual($0 as? SourceDiffError, .empty(origin: "x.diff"))
        }
        XCTAssertThrowsError(try SourceDiff(text: "--- a/f\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n")) {
            guard case .rename(_, "f", "g") = $0 as? SourceDiffError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SourceDiff(text: "--- a/f\n+++ b/f\nnothing\n")) {
            guard case .noHunks = $0 as? SourceDiffError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SourceDiff(text: "--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n")) {
            guard case .malformed = $0 as? SourceDiffError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SourceDiff(text: "Binary files a/x and b/x differ\n")) {
            guard case .binary = $0 as? SourceDiffError else { return XCTFail("\($0)") }
        }
    }
}
