import XCTest
import TestSupport

/// Kernel fixes the differ reaches beyond plain function changes, built from
/// diffs against the pinned kernel's source and checked live in one boot:
/// a syscall body (notrace `__do_sys_newuname`, patched through its traced
/// stubs) seen from user space; a helper new in net/netlink/af_netlink.c called
/// from another vmlinux object (fs/proc/cmdline.c) and from an in-tree module
/// (binfmt_misc); pr_debug in patched code of vmlinux and of a module, enabled
/// through dynamic_debug/control; a kernel/bpf/verifier.c change next to a
/// BTF_SET (`btf_id_deny`), which the patch reaches in the running kernel
/// instead of copying `.BTF_ids`.
final class DifferReachVMTests: XCTestCase {
    func testSyscallBodyCrossObjectHelperAndDynamicDebug() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("differ-reach")
        defer { try? FileManager.default.removeItem(at: work) }
        var files: [String: URL] = [:]
        var builds: [String: String] = [:]
        for name in ["newuname-syscall", "cross-object-helper", "dyndbg-version", "verifier-btf-set"] {
            let out = work.appendingPathComponent("\(name).ko")
            let result = try KpatchctlBinary().buildKernelPatch(
                diff: bed.root.appendingPathComponent("examples/vmlinux/\(name).diff"), output: out,
                extra: ["--name", "lp_" + name.replacingOccurrences(of: "-", with: "_"), "--verbose"])
            XCTAssertEqual(result.status, 0, "\(name):\n\(result.output)")
            builds[name] = result.output
            files["\(name).ko"] = out
        }
        let syscall = builds["newuname-syscall"]!
        XCTAssertTrue(syscall.contains("__do_sys_newuname is notrace (no __fentry__ call): replacing its traced caller(s) __ia32_sys_newuname, __x64_sys_newuname"), syscall)
        XCTAssertTrue(syscall.contains("vmlinux: __x64_sys_newuname (calls changed notrace __do_sys_newuname"), syscall)
        XCTAssertTrue(syscall.contains("reasons: 2 notrace-callee"), syscall)
        XCTAssertTrue(syscall.contains("carries notrace function(s) as new code, called by the replaced callers: __do_sys_newuname"), syscall)
        let cross = builds["cross-object-helper"]!
        XCTAssertTrue(cross.contains("vmlinux: cmdline_proc_show"), cross)
        XCTAssertTrue(cross.contains("binfmt_misc: bm_status_read"), cross)
        XCTAssertTrue(cross.contains("adds: netlink_kpatch_tag"), cross)
        XCTAssertTrue(cross.contains("functions ignored: only line numbers/counter-named references changed\n  __netlink_kernel_create"), cross)
        XCTAssertTrue(builds["verifier-btf-set"]!.contains("vmlinux: bpf_check"), builds["verifier-btf-set"]!)

        let vm = TestVM()
        let payload = try vm.payload("differ-reach", script: """
            before=$(uname -v)
            check apply-newuname kpatchctl apply /payload/newuname-syscall.ko
            expect_eq newuname-patched "$(uname -v)" "$before kpatched"
            check revert-newuname kpatchctl revert lp_newuname_syscall
            expect_eq newuname-reverted "$(uname -v)" "$before"

            mount -t debugfs none /sys/kernel/debug
            control=/sys/kernel/debug/dynamic_debug/control
            insmod /lib/modules/$(uname -r)/kernel/fs/binfmt_misc.ko
            mount -t binfmt_misc none /proc/sys/fs/binfmt_misc
            cmdline=$(cat /proc/cmdline)
            check apply-cross kpatchctl apply /payload/cross-object-helper.ko
            expect_eq cross-vmlinux "$(cat /proc/cmdline)" "$cmdline kpatched-via-netlink"
            expect_eq cross-module "$(cat /proc/sys/fs/binfmt_misc/status)" "enabled kpatched-via-netlink"
            echo 'func bm_status_read +p' > $control
            cat /proc/sys/fs/binfmt_misc/status > /dev/null
            expect_match dyndbg-module "$(dmesg | tail -n 20)" "kpatchctl: bm_status_read by cat"
            check revert-cross kpatchctl revert lp_cross_object_helper
            expect_eq cross-vmlinux-reverted "$(cat /proc/cmdline)" "$cmdline"
            expect_eq cross-module-reverted "$(cat /proc/sys/fs/binfmt_misc/status)" "enabled"

            check apply-dyndbg kpatchctl apply /payload/dyndbg-version.ko
            cat /proc/version > /dev/null
            if dmesg | grep -q "kpatchctl: /proc/version read"; then fail dyndbg-off-by-default "printed before it was enabled"
            else pass dyndbg-off-by-default; fi
            echo 'func version_proc_show +p' > $control
            expect_match dyndbg-control-lists "$(grep version_proc_show $control)" "=p"
            cat /proc/version > /dev/null
            expect_match dyndbg-vmlinux "$(dmesg | tail -n 20)" "kpatchctl: /proc/version read"
            check revert-dyndbg kpatchctl revert lp_dyndbg_version

            expect_match btf-label-in-kallsyms "$(grep -w btf_id_deny /proc/kallsyms)" " btf_id_deny$"
            check apply-verifier kpatchctl apply /payload/verifier-btf-set.ko
            check verifier-patched test -d /sys/kernel/livepatch/lp_verifier_btf_set/vmlinux/bpf_check,1
            check revert-verifier kpatchctl revert lp_verifier_btf_set
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            expect_eq no-oops "$(dmesg | grep -c -E 'Oops|BUG:|general protection')" 0
            """, files: files)
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 300, modules: ["kernel/fs/binfmt_misc.ko"])
        XCTAssertTrue(outcome.passed, outcome.report)
        for check in ["newuname-patched", "newuname-reverted", "cross-vmlinux", "cross-module", "dyndbg-module",
                      "cross-vmlinux-reverted", "cross-module-reverted", "dyndbg-off-by-default", "dyndbg-vmlinux",
                      "apply-verifier", "verifier-patched", "revert-verifier", "no-oops"] {
            XCTAssertTrue(outcome.passed(check), "\(check):\n\(outcome.report)")
        }
    }
}
