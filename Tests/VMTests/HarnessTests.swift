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
        XCTAssertTrue(outcome.report.contains("the kernel reported: Kernel panic - not syncing: sysrq triggered crash"),
                      outcome.report)
    }

    /// A guest that fails before its payload starts is booted once more (a rare TCG timer
    /// stall during boot on a loaded host), and fails when the second boot fails too; the
    /// first attempt's logs are kept. Here both panic: there is no init to run.
    func testBootFailingBeforeThePayloadIsRetriedOnce() throws {
        let vm = TestVM()
        let payload = try vm.payload("no-init", script: "pass never-runs\n")
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 60, append: "rdinit=/nonexistent")
        XCTAssertFalse(outcome.passed)
        XCTAssertFalse(outcome.passed("never-runs"))
        XCTAssertTrue(outcome.report.contains("failed before its payload started"), outcome.report)
        XCTAssertTrue(outcome.report.contains("this is the second boot"), outcome.report)
        XCTAssertTrue(outcome.report.contains("Kernel panic - not syncing"), outcome.report)
        let kept = try XCTUnwrap(outcome.report.firstMatch(of: #/logs kept in ([^)]*-before-payload)\)/#).map { String($0.1) })
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept + "/console.log"), kept)
        try? FileManager.default.removeItem(atPath: kept)
    }

    /// Forensics: a kernel WARN fails a run whose checks all passed, and the failure
    /// shows the report with its stack; the full kernel log is kept.
    func testKernelWarningFailsTheRunWithItsStack() throws {
        let module = try KbuildModule().build("warn-on-load", sources: fixture("warn-on-load"))
        defer { try? FileManager.default.removeItem(at: module) }
        let vm = TestVM()
        let payload = try vm.payload("warn", script: """
            pass before-warn
            insmod /payload/warn_on_load.ko
            pass after-warn
            """, files: ["warn_on_load.ko": module.appendingPathComponent("warn_on_load.ko")])
        let logs = payload.appendingPathComponent("kept")
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 90, keepLogs: logs)
        XCTAssertFalse(outcome.passed, outcome.report)
        XCTAssertTrue(outcome.passed("after-warn"), outcome.report)
        XCTAssertTrue(outcome.report.contains("the kernel reported: WARNING: CPU:"), outcome.report)
        XCTAssertTrue(outcome.report.contains("warn_on_load_trigger"), outcome.report)
        XCTAssertTrue(outcome.report.contains("Call Trace:"), outcome.report)
        XCTAssertTrue(outcome.report.contains("do_init_module"), outcome.report)
        let kmsg = try String(contentsOf: logs.appendingPathComponent("kmsg.log"), encoding: .utf8)
        XCTAssertTrue(kmsg.contains("WARNING: CPU:"), kmsg)
    }

    /// The kept kernel log holds every level, also what the console (warnings and
    /// worse) does not show; an expected report does not fail the run.
    func testKeptKernelLogHasEveryLevelAndExpectedReportsPass() throws {
        let module = try KbuildModule().build("warn-on-load", sources: fixture("warn-on-load"))
        defer { try? FileManager.default.removeItem(at: module) }
        let vm = TestVM()
        let payload = try vm.payload("keeplogs", script: """
            echo '<6>kpatch-info-marker' > /dev/kmsg
            insmod /payload/warn_on_load.ko
            pass logged
            """, files: ["warn_on_load.ko": module.appendingPathComponent("warn_on_load.ko")])
        let logs = payload.appendingPathComponent("kept")
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 90, keepLogs: logs,
                                 expectedReports: ["WARNING: CPU: .* warn_on_load_trigger"])
        XCTAssertChecksPassed(outcome, ["logged"])
        let kmsg = try String(contentsOf: logs.appendingPathComponent("kmsg.log"), encoding: .utf8)
        let console = try String(contentsOf: logs.appendingPathComponent("console.log"), encoding: .utf8)
        XCTAssertTrue(kmsg.contains("Linux version"), "the boot banner (notice level) is missing from kmsg.log")
        XCTAssertTrue(kmsg.contains("kpatch-info-marker"), kmsg)
        XCTAssertTrue(kmsg.contains("WARNING: CPU:"), kmsg)
        XCTAssertFalse(console.contains("kpatch-info-marker"), "the console should show warnings and worse only")
    }

    private func fixture(_ name: String) -> URL {
        TestBed.shared.root.appendingPathComponent("Tests/Fixtures/\(name)")
    }
}
