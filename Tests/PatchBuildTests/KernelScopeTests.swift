import XCTest
import TestSupport

/// Which objects a kernel diff rebuilds: a header change by the identifiers it
/// changes, files the target does not build ignored (exit 7 when that is all of
/// them). Real builds against the pinned kernel's prepared tree. KernelPatchEndToEndTests
/// checks the build output of the diffs it builds and loads anyway (a sched.h inline,
/// kernel/sched/rt.c through build_policy.o, lib/, another module's export), so they are
/// built once per CI run.
final class KernelScopeTests: XCTestCase {
    private func build(_ diff: String, _ out: inout URL?) throws -> CommandResult {
        let bed = TestBed.shared
        let work = try bed.scratch("kscope")
        addTeardownBlock { try? FileManager.default.removeItem(at: work) }
        let ko = work.appendingPathComponent("p.ko")
        out = ko
        return try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff)"), output: ko)
    }

    /// Builds `diff`, which must succeed and print each of `expected`; returns the module and the output.
    @discardableResult
    private func buildSaying(_ diff: String, _ expected: [String]) throws -> (ko: URL, output: String) {
        var ko: URL?
        let result = try build(diff, &ko)
        XCTAssertEqual(result.status, 0, result.output)
        for text in expected { XCTAssertTrue(result.output.contains(text), "\(diff): no '\(text)' in\n\(result.output)") }
        return (try XCTUnwrap(ko), result.output)
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

    /// A real stable header fix reversed, used by ~70 objects: every user is compiled,
    /// original and patched, and the differ decides which functions changed (the change
    /// sits under IS_ENABLED(CONFIG_PREEMPT_RT), but gcc lays the branch out differently in
    /// some users). The originals are kept for the next build.
    func testWideHeaderCompilesEveryUserAndTheDifferDecides() throws {
        var ko: URL?
        let result = try build("put-task-struct-header.diff", &ko)
        XCTAssertEqual(result.status, 0, result.output)
        let users = try XCTUnwrap(result.output.firstMatch(of: #/include/linux/sched/task.h: changed [^;]*; used by ([^\n]*)/#))
        let count = users.1.split(separator: ",").count
        XCTAssertGreaterThan(count, 32, result.output)
        XCTAssertTrue(result.output.contains("compiling \(count) objects, original"), result.output)
        // gcc lays the rewritten branch out differently in some users: the differ names them.
        XCTAssertNotNil(result.output.firstMatch(of: #/replaces [0-9]+ function\(s\):/#), result.output)
        XCTAssertTrue(result.output.contains("vmlinux: proc_pid_lookup (code changed)"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ko!.path))
        let store = TestBed.shared.buildCache.appendingPathComponent("kernels/\(TestBed.shared.kernelRelease)/originals")
        let stored = try FileManager.default.contentsOfDirectory(atPath: store.path).filter { !$0.hasPrefix(".tmp-") }
        XCTAssertGreaterThanOrEqual(stored.count, count, "every original is kept for the next build")
    }

    /// A file that another directory's Makefile compiles into its module is built through
    /// that Makefile, with its flags: amdkfd/*.c is part of amdgpu.ko (`AMDKFD_PATH :=
    /// ../amdkfd` in amdgpu's Makefile) and does not compile in its own directory.
    func testFileAnotherDirectorysMakefileCompilesIsBuiltThroughIt() throws {
        let (ko, output) = try buildSaying("amdkfd-gpuidx.diff", ["amdgpu: kfd_process_gpuidx_from_gpuid (code changed)", "for amdgpu build id"])
        XCTAssertFalse(output.contains("does not compile"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ko.path))
    }

    /// A header user that does not compile with the configuration (mm/kmemleak.c without
    /// CONFIG_DEBUG_KMEMLEAK) is ignored with the compiler's error, and that error is kept:
    /// the next build touching the header takes it from the store instead of compiling it.
    func testCompileFailureOfAnObjectTheConfigurationLeavesOutIsKept() throws {
        let failure = "mm/kmemleak.o does not compile with \(TestBed.shared.kernelRelease)'s configuration, so the target does not build it (mm/kmemleak.c:"
        for round in 1...2 {
            var ko: URL?
            let result = try build("kmemleak-stub-header.diff", &ko)
            // The stub changes no code: the answer is "nothing to live-patch", after compiling memblock.o.
            XCTAssertEqual(result.status, 1, "round \(round):\n\(result.output)")
            XCTAssertTrue(result.output.contains("error: the diff changes no function's code: there is nothing to live-patch"), result.output)
            XCTAssertTrue(result.output.contains("used by mm/kmemleak.o, mm/memblock.o"), result.output)
            XCTAssertTrue(result.output.contains(failure), "round \(round):\n\(result.output)")
            if round == 2 {
                XCTAssertTrue(result.output.contains("[original-build] 2 of 2 original objects from the cache"), result.output)
                XCTAssertTrue(result.output.contains("error: ‘CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE’ undeclared here (not in a function); from the cache)"),
                              result.output)
            }
        }
    }

    /// A repeated build takes its original objects from the store: only the patched side is compiled.
    func testRepeatedBuildTakesItsOriginalsFromTheCache() throws {
        try buildSaying("cmdline.diff", [])
        try buildSaying("cmdline.diff", ["[original-build] 1 of 1 original objects from the cache"])
    }
}
