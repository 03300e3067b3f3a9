import XCTest
import TestSupport

/// Which objects a kernel diff rebuilds: a header change by the identifiers it
/// changes, a .c file through the object that #includes it, files the target
/// does not build ignored (exit 7 when that is all of them). Real builds against
/// the pinned kernel's prepared tree.
final class KernelScopeTests: XCTestCase {
    private func build(_ diff: String, _ out: inout URL?) throws -> CommandResult {
        let bed = TestBed.shared
        let work = try bed.scratch("kscope")
        addTeardownBlock { try? FileManager.default.removeItem(at: work) }
        let ko = work.appendingPathComponent("p.ko")
        out = ko
        return try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff)"), output: ko)
    }

    func testHeaderInlineRebuildsOnlyTheObjectsThatUseIt() throws {
        var ko: URL?
        let result = try build("sched-inline.diff", &ko)
        XCTAssertEqual(result.status, 0, result.output)
        // task_ppid_nr_ns, and task_ppid_nr through it: three of sched.h's 27,520 includers.
        XCTAssertTrue(result.output.contains("include/linux/sched.h: changed task_ppid_nr_ns; used by fs/proc/array.o, kernel/audit.o, kernel/auditsc.o"), result.output)
        XCTAssertTrue(result.output.contains("rebuilt fs/proc/array.o, kernel/audit.o, kernel/auditsc.o\n"), result.output)
        XCTAssertTrue(result.output.contains("vmlinux: do_task_stat"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ko!.path))
    }

    func testSchedFileIsBuiltThroughBuildPolicy() throws {
        var ko: URL?
        let result = try build("sched-rr-timeslice.diff", &ko)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("kernel/sched/rt.c is compiled through kernel/sched/build_policy.o"), result.output)
        XCTAssertTrue(result.output.contains("rebuilt kernel/sched/build_policy.o\n"), result.output)
        XCTAssertTrue(result.output.contains("replaces 1 function(s):\n  vmlinux: sched_rr_handler ("), result.output)
    }

    func testUnconfiguredFileIsNothingToPatch() throws {
        var ko: URL?
        let result = try build("unconfigured.diff", &ko)
        XCTAssertEqual(result.status, 7, result.output)
        XCTAssertTrue(result.output.contains("error: mm/damon/sysfs.c is not built into \(TestBed.shared.kernelRelease) (no such compilation unit): nothing to patch"), result.output)
        // Decided from the target's compilation units, before compiling anything.
        XCTAssertFalse(result.output.contains("[original-build]"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ko!.path))
    }

    func testPartlyUnconfiguredDiffBuildsAndListsTheIgnoredFile() throws {
        var ko: URL?
        let result = try build("partly-unconfigured.diff", &ko)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("vmlinux: cmdline_proc_show"), result.output)
        XCTAssertTrue(result.output.contains("ignored 1 touched file(s):\n  mm/damon/sysfs.c is not built into"), result.output)
    }
}
