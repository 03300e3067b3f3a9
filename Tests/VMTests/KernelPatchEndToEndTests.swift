import XCTest
import TestSupport

/// Patches of the pinned Debian kernel itself, built from diffs against its own
/// source (only the touched objects), applied and reverted in the VM.
final class KernelPatchEndToEndTests: XCTestCase {
    func testVmlinuxAndInTreeModulePatches() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("kernel-e2e")
        defer { try? FileManager.default.removeItem(at: work) }
        var files: [String: URL] = [:]
        var builds: [String: String] = [:]
        for name in ["cmdline", "meminfo", "kallsyms-sympos", "binfmt-misc", "kswapd", "fdinfo-header", "sched-inline", "sched-rr-timeslice",
                     "lib-mpi-sgl", "twofish-module-export", "module-export-from-vmlinux"] {
            let out = work.appendingPathComponent("\(name).ko")
            let result = try KpatchctlBinary().buildKernelPatch(
                diff: bed.root.appendingPathComponent("examples/vmlinux/\(name).diff"), output: out,
                extra: ["--name", "lp_" + name.replacingOccurrences(of: "-", with: "_")])
            XCTAssertEqual(result.status, 0, "\(name):\n\(result.output)")
            builds[name] = result.output
            files["\(name).ko"] = out
        }
        XCTAssertTrue(builds["cmdline"]!.contains("vmlinux: cmdline_proc_show"), builds["cmdline"]!)
        XCTAssertTrue(builds["kallsyms-sympos"]!.contains("vmlinux: s_show,2"), builds["kallsyms-sympos"]!)
        XCTAssertTrue(builds["binfmt-misc"]!.contains("binfmt_misc: bm_status_read"), builds["binfmt-misc"]!)
        XCTAssertFalse(builds["binfmt-misc"]!.contains("no debug build"), builds["binfmt-misc"]!)
        XCTAssertTrue(builds["kswapd"]!.contains("kswapd -> kswapd_try_to_sleep -> prepare_kswapd_sleep"), builds["kswapd"]!)
        // A header change rebuilds the objects that use what it changes: the new macro only fd.c.
        XCTAssertTrue(builds["fdinfo-header"]!.contains("rebuilt fs/proc/fd.o\n"), builds["fdinfo-header"]!)
        XCTAssertTrue(builds["fdinfo-header"]!.contains("replaces 1 function(s):\n  vmlinux: seq_show,1"), builds["fdinfo-header"]!)

        // A header inline: task_ppid_nr_ns, and task_ppid_nr through it: three of sched.h's 27,520 includers.
        let inline = builds["sched-inline"]!
        XCTAssertTrue(inline.contains("include/linux/sched.h: changed task_ppid_nr_ns; used by fs/proc/array.o, kernel/audit.o, kernel/auditsc.o"), inline)
        XCTAssertTrue(inline.contains("rebuilt fs/proc/array.o, kernel/audit.o, kernel/auditsc.o\n"), inline)
        XCTAssertTrue(inline.contains("vmlinux: do_task_stat"), inline)
        // kernel/sched/rt.c has no compilation unit of its own: build_policy.c #includes it.
        let rr = builds["sched-rr-timeslice"]!
        for text in ["kernel/sched/rt.c is compiled through kernel/sched/build_policy.o", "rebuilt kernel/sched/build_policy.o\n",
                     "replaces 1 function(s):\n  vmlinux: sched_rr_handler ("] {
            XCTAssertTrue(rr.contains(text), "no '\(text)' in\n\(rr)")
        }
        // lib/mpi/mpicoder.o is a traced compilation unit of the debug vmlinux: patched like any vmlinux object.
        XCTAssertTrue(builds["lib-mpi-sgl"]!.contains("replaces 1 function(s):\n  vmlinux: mpi_read_raw_from_sgl"), builds["lib-mpi-sgl"]!)
        // Another module's export: an ordinary undefined symbol, and the exporting module a dependency.
        XCTAssertTrue(builds["twofish-module-export"]!.contains("twofish_x86_64_3way: twofish_setkey_skcipher"), builds["twofish-module-export"]!)
        let depends = try runCommand(["/usr/sbin/modinfo", "-F", "depends", files["twofish-module-export.ko"]!.path]).output
        XCTAssertTrue(depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.contains("twofish_common"), depends)
        XCTAssertTrue(builds["module-export-from-vmlinux"]!.contains("vmlinux: cmdline_proc_show"), builds["module-export-from-vmlinux"]!)

        let vm = TestVM()
        let payload = try vm.payload("kernel-e2e", script: """
            \(GuestScript.cmdlineRoundTrip(file: "cmdline.ko"))

            check apply-meminfo kpatchctl apply /payload/meminfo.ko
            expect_match meminfo-patched "$(grep Kpatchctl /proc/meminfo)" "^KpatchctlTotal: +[0-9]+ kB$"
            check revert-meminfo kpatchctl revert lp_meminfo
            expect_eq meminfo-reverted "$(grep -c Kpatchctl /proc/meminfo)" "0"

            check apply-kallsyms kpatchctl apply /payload/kallsyms-sympos.ko
            check kallsyms-sympos-2 test -d /sys/kernel/livepatch/lp_kallsyms_sympos/vmlinux/s_show,2
            expect_match kallsyms-patched "$(head -n 1 /proc/kallsyms)" " kpatched$"
            expect_match vmallocinfo-untouched "$(head -n 1 /proc/vmallocinfo)" "^0x"
            check revert-kallsyms kpatchctl revert lp_kallsyms_sympos
            if head -n 1 /proc/kallsyms | grep -q kpatched; then fail kallsyms-reverted "still patched"; else pass kallsyms-reverted; fi

            insmod /lib/modules/$(uname -r)/kernel/fs/binfmt_misc.ko
            mount -t binfmt_misc none /proc/sys/fs/binfmt_misc
            expect_eq binfmt-before "$(cat /proc/sys/fs/binfmt_misc/status)" "enabled"
            expect_match binfmt-analysis "$(kpatchctl info /payload/binfmt-misc.ko)" "kthread analysis \\([0-9a-f]+\\): [0-9]+ function\\(s\\) reach bm_status_read"
            check apply-binfmt kpatchctl apply /payload/binfmt-misc.ko
            expect_eq binfmt-patched "$(cat /proc/sys/fs/binfmt_misc/status)" "enabled (kpatched)"
            check revert-binfmt kpatchctl revert lp_binfmt_misc
            expect_eq binfmt-reverted "$(cat /proc/sys/fs/binfmt_misc/status)" "enabled"

            check apply-fdinfo kpatchctl apply /payload/fdinfo-header.ko
            expect_match fdinfo-patched "$(cat /proc/self/fdinfo/0)" "kpatched:"
            check revert-fdinfo kpatchctl revert lp_fdinfo_header
            if grep -q kpatched /proc/self/fdinfo/0; then fail fdinfo-reverted "still patched"; else pass fdinfo-reverted; fi

            # sched.h's task_ppid_nr_ns (inlined into fs/proc/array.c's do_task_stat): this
            # shell is init's child, so /proc/$$/stat's ppid field reads 0 while patched.
            # The audit functions also replaced are pure: kthreadd (copy_process -> audit_alloc)
            # may run old and new across iterations; kdevtmpfs reaches them only at boot.
            expect_eq ppid-before "$(cut -d' ' -f4 /proc/$$/stat)" "1"
            check apply-sched-inline kpatchctl apply /payload/sched-inline.ko --allow-kthread kthreadd --allow-kthread kdevtmpfs
            expect_eq ppid-patched "$(cut -d' ' -f4 /proc/$$/stat)" "0"
            check revert-sched-inline kpatchctl revert lp_sched_inline
            expect_eq ppid-reverted "$(cut -d' ' -f4 /proc/$$/stat)" "1"

            # kernel/sched/rt.c (built through build_policy.c), the stable fix reversed:
            # writing 0 leaves the sysctl at 0 instead of showing the default.
            rr=/proc/sys/kernel/sched_rr_timeslice_ms
            default=$(cat $rr)
            echo 0 > $rr
            expect_eq rr-reset-shows-default "$(cat $rr)" "$default"
            check apply-sched-rr kpatchctl apply /payload/sched-rr-timeslice.ko
            echo 0 > $rr
            expect_eq rr-patched "$(cat $rr)" "0"
            check revert-sched-rr kpatchctl revert lp_sched_rr_timeslice
            echo 0 > $rr
            expect_eq rr-reverted "$(cat $rr)" "$default"

            # lib/mpi/mpicoder.c, a real stable fix reversed: a lib/ object of vmlinux like any other.
            # (sysfs names a function whose sympos is 0, the only one of its name, `NAME,1`.)
            check apply-lib kpatchctl apply /payload/lib-mpi-sgl.ko
            check lib-patched test -d /sys/kernel/livepatch/lp_lib_mpi_sgl/vmlinux/mpi_read_raw_from_sgl,1
            check revert-lib kpatchctl revert lp_lib_mpi_sgl

            # A module patch calling another module's export (twofish_common's twofish_setkey):
            # the patch module depends on twofish_common and loads because it is there.
            mods=/lib/modules/$(uname -r)/kernel
            insmod $mods/crypto/twofish_common.ko
            insmod $mods/arch/x86/crypto/twofish-x86_64.ko
            insmod $mods/arch/x86/crypto/twofish-x86_64-3way.ko force=1
            # The test bed has no debug build of the twofish modules, so the patch carries no kthread
            # analysis for twofish_x86_64_3way: apply refuses it by default, naming the object.
            expect_match twofish-unanalysed-refused "$(kpatchctl apply /payload/twofish-module-export.ko 2>&1)" "twofish_x86_64_3way: the patch carries no kthread reachability analysis"
            expect_eq twofish-unanalysed-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            check apply-twofish kpatchctl apply --allow-unanalysed /payload/twofish-module-export.ko
            expect_eq twofish-patched "$(cat /sys/kernel/livepatch/lp_twofish_module_export/twofish_x86_64_3way/patched)" "1"
            check revert-twofish kpatchctl revert lp_twofish_module_export

            # vmlinux code calling a module's export (crc7_be of the module crc7): refused while crc7
            # is not loaded; once applied, the patch holds crc7 until it is reverted.
            out=$(kpatchctl apply /payload/module-export-from-vmlinux.ko 2>&1); rc=$?
            echo "$out"
            expect_eq crc7-absent-refused "$rc" "2"
            expect_match crc7-absent-named "$out" "calls into module crc7 \\(crc7_be\\), which is not loaded"
            expect_eq crc7-absent-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            insmod $mods/lib/crc7.ko
            check apply-crc7 kpatchctl apply /payload/module-export-from-vmlinux.ko
            expect_match crc7-called "$(cat /proc/cmdline)" " crc7=[0-9a-f][0-9a-f]$"
            if rmmod crc7 2>/dev/null; then fail crc7-pinned "crc7 unloaded under the patch"; else pass crc7-pinned; fi
            check revert-crc7 kpatchctl revert lp_module_export_from_vmlinux
            check crc7-unpinned rmmod crc7

            out=$(kpatchctl apply /payload/kswapd.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kswapd-refused "$rc" "2"
            expect_match kswapd-names-kthread "$out" "\\\\(kswapd0\\\\), entry kswapd"
            expect_match kswapd-names-path "$out" "kswapd -> kswapd_try_to_sleep -> prepare_kswapd_sleep"
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            """, files: files)
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 240, modules: ["kernel/fs/binfmt_misc.ko", "kernel/crypto/twofish_common.ko",
                                                                           "kernel/arch/x86/crypto/twofish-x86_64.ko",
                                                                           "kernel/arch/x86/crypto/twofish-x86_64-3way.ko", "kernel/lib/crc7.ko"])
        XCTAssertTrue(outcome.passed, outcome.report)
        XCTAssertEqual(outcome.checks.count, 54, "every check ran:\n\(outcome.report)")
    }
}
