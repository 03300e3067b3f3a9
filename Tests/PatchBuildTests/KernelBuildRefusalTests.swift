import XCTest
import TestSupport

/// Kernel diffs the builder refuses, each with the file or symbol and the reason,
/// and no module written.
final class KernelBuildRefusalTests: XCTestCase {
    private func refuse(_ diff: String, extra: [String] = [], saying expected: [String]) throws {
        let bed = TestBed.shared
        let work = try bed.scratch("krefuse")
        defer { try? FileManager.default.removeItem(at: work) }
        let out = work.appendingPathComponent("p.ko")
        let result = try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff)"), output: out, extra: extra)
        XCTAssertEqual(result.status, 1, result.output)
        for text in expected { XCTAssertTrue(result.output.contains(text), "\(diff): no '\(text)' in\n\(result.output)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testAssemblyIsRefused() throws {
        try refuse("refused-asm.diff", saying: ["arch/x86/lib/clear_page_64.S", "assembly cannot be live-patched"])
    }

    /// Refused before anything is compiled, and only because the object count is above
    /// --max-objects: the message says how many objects use what, and the predicted time.
    func testHeaderChangeAboveMaxObjectsIsRefusedUpFrontWithTheCount() throws {
        try refuse("refused-wide-header.diff", extra: ["--max-objects", "20"],
                   saying: ["include/linux/sched.h: ", " objects use need_resched; compiling ", "original and patched, would take about ",
                            "more than --max-objects 20 allows", "raise --max-objects"])
    }

    /// lib/ is decided by the target; what never runs in the running kernel is refused by what it is.
    func testVdsoDecompressorPurgatoryAndRealmodeAreRefusedWithTheReason() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("krefuse")
        defer { try? FileManager.default.removeItem(at: work) }
        let cases = [("arch/x86/entry/vdso/vclock_gettime.c", "the vDSO runs in user processes"),
                     ("arch/x86/boot/compressed/misc.c", "the decompressor and boot setup code run once"),
                     ("arch/x86/purgatory/purgatory.c", "kexec's purgatory runs between two kernels"),
                     ("arch/x86/realmode/init.c", "the real-mode trampoline runs outside")]
        for (path, reason) in cases {
            let diff = work.appendingPathComponent("unreachable.diff")
            try "--- a/\(path)\n+++ b/\(path)\n@@ -1,1 +1,1 @@\n-x\n+y\n".write(to: diff, atomically: true, encoding: .utf8)
            let out = work.appendingPathComponent("p.ko")
            let result = try KpatchctlBinary().buildKernelPatch(diff: diff, output: out)
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.output.contains("\(path): \(reason)"), "\(path):\n\(result.output)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
    }

    /// Top-level lib/ objects are built without ftrace in 6.1: refused as notrace, by the
    /// function and its export, not by the directory.
    func testNotraceLibFunctionIsRefusedWithTheRealReason() throws {
        try refuse("lib-string-helpers.diff", saying: ["notrace: devm_kasprintf_strarray", "has no __fentry__ call (notrace)",
                                                       "___ksymtab_gpl+devm_kasprintf_strarray"])
    }

    func testStructLayoutChangeIsRefusedNamingTheStructAndItsUsers() throws {
        try refuse("refused-struct-layout.diff", saying: ["fs/proc/internal.h: struct proc_maps_private changes layout",
                                                          "used by 1 object(s): fs/proc/task_mmu.o", "klp_shadow_alloc"])
    }

    func testInitCodeIsRefused() throws {
        try refuse("refused-init.diff", saying: ["proc_cmdline_init", "cannot be built safely"])
    }

    func testChangedInitializedGlobalIsRefused() throws {
        try refuse("refused-data.diff", saying: ["kcore_need_update", "cannot be built safely"])
    }

    func testDiffForAnotherTreeIsRefusedAndTheTreeStaysClean() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("krefuse")
        defer { try? FileManager.default.removeItem(at: work) }
        let diff = work.appendingPathComponent("stale.diff")
        try """
            --- a/fs/proc/cmdline.c
            +++ b/fs/proc/cmdline.c
            @@ -7,7 +7,7 @@
             static int cmdline_proc_show(struct seq_file *m, void *v)
             {
            -\tseq_puts(m, boot_command_line);
            +\tseq_puts(m, saved_command_line);
             \tseq_putc(m, '\\n');
             \treturn 0;
             }
            """.write(to: diff, atomically: true, encoding: .utf8)
        let result = try KpatchctlBinary().buildKernelPatch(diff: diff, output: work.appendingPathComponent("p.ko"))
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("does not apply"), result.output)
        // The prepared tree still holds the pristine source.
        let source = try String(contentsOf: bed.buildCache.appendingPathComponent("kernels/\(bed.kernelRelease)/tree/fs/proc/cmdline.c"), encoding: .utf8)
        XCTAssertTrue(source.contains("\tseq_puts(m, saved_command_line);\n\tseq_putc(m, '\\n');"), source)
    }
}
