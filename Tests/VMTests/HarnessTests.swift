import XCTest
import TestSupport

/// The harness must turn a hung guest and a failed check into failures, not hangs.
final class HarnessTests: XCTestCase {
    func testGuestWithoutEndMarkerFailsWithinTheBound() throws {
        let vm = TestVM()
        let payload = try vm.payload("hang", script: "pass booted\nsleep 100000\n")
        defer { try? FileManager.default.removeItem(at: payload) }
        let start = Date()
        let outcome = try vm.run(payload: payload, timeout: 25)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertFalse(outcome.passed)
        XCTAssertTrue(outcome.report.contains("timed out after 25s"), outcome.report)
        XCTAssertTrue(outcome.report.contains("last 40 console lines"), outcome.report)
        XCTAssertLessThan(elapsed, 25 + 30, "the bound was not enforced")
    }

    func testFailedCheckFailsTheRun() throws {
        let vm = TestVM()
        let payload = try vm.payload("failcheck", script: "pass first\nexpect_eq deliberately-wrong 1 2\n")
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 90)
        XCTAssertFalse(outcome.passed)
        XCTAssertTrue(outcome.passed("first"))
        XCTAssertEqual(outcome.failedChecks, ["KPTEST FAIL deliberately-wrong: got '1', expected '2'"])
        XCTAssertTrue(outcome.report.contains("1 check(s) failed"), outcome.report)
    }

    func testGuestPanicFails() throws {
        let vm = TestVM()
        let payload = try vm.payload("panic", script: "pass before-panic\necho c > /proc/sysrq-trigger\n")
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 90)
        XCTAssertFalse(outcome.passed)
        XCTAssertTrue(outcome.report.contains("without the end marker"), outcome.report)
    }
}
