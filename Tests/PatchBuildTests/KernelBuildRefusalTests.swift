import XCTest
import TestSupport

/// Kernel diffs the builder refuses, each with the file or symbol and the reason,
/// and no module written.
final class KernelBuildRefusalTests: XCTestCase {
    private func refuse(_ diff: String, saying expected: [String]) throws {
        let bed = TestBed.shared
        let work = try bed.scratch("krefuse")
        defer { try? FileManager.default.removeItem(at: work) }
        let out = work.appendingPathComponent("p.ko")
        let result = try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff)"), output: out)
        XCTAssertEqual(result.status, 1, result.output)
        for text in expected { XCTAssertTrue(result.output.contains(text), "\(diff): no '\(text)' in\n\(result.output)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testAssemblyIsRefused() throws {
        try refuse("refused-asm.diff", saying: ["arch/x86/lib/clear_page_64.S", "assembly cannot be live-patched"])
    }

    func testHeaderChangeReachingTooManyObjectsIsRefusedWithTheCount() throws {
        try refuse("refused-wide-header.diff", saying: ["include/linux/sched.h: the change to need_resched reaches",
                                                        "objects whose code changes (more than 32), e.g. arch/x86/"])
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
