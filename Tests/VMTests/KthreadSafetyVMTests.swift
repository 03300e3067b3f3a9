import XCTest
import TestSupport

/// Kthread safety of vmlinux patches in the pinned kernel (one boot): converted
/// kthreads (kthreadd, smpboot threads) no longer refuse what they merely reach
/// (copy_process applies); kfree, which passes nothing back to its callers, and
/// __kmem_cache_free, reached only through kfree, apply by default with notes
/// naming the unconverted kthreads that reach them; netlink_unicast, whose result
/// kauditd's loop acts on, is refused naming kauditd's path, never kthreadd;
/// set_user_nice, which khungtaskd, ksmd and khugepaged call only before their
/// loops, applies; a patch replacing a kthread's resident function is refused,
/// and forced, it stalls and is reverted; `apply --check` loads nothing and says
/// what `--kthread-rule strict` would refuse on top (kfree, for kauditd), which
/// strict then does.
final class KthreadSafetyVMTests: XCTestCase {
    /// examples/vmlinux/kthread-survey/NAME.diff -> livepatch module lp_NAME.
    private static let diffs = ["fork-copy-process", "slab-kfree", "slab-kmem-cache-free", "net-netlink-unicast", "sched-set-user-nice",
                                        "audit-kauditd-thread", "smpboot-thread-fn"]

    func testConvertedKthreadsResidentFunctionsAndCheck() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("kthread-safety")
        defer { try? FileManager.default.removeItem(at: work) }
        var files: [String: URL] = [:]
        for name in Self.diffs {
            let out = work.appendingPathComponent("\(name).ko")
            let result = try KpatchctlBinary().buildKernelPatch(
                diff: bed.root.appendingPathComponent("examples/vmlinux/kthread-survey/\(name).diff"), output: out,
                extra: ["--name", "lp_" + name.replacingOccurrences(of: "-", with: "_")])
            XCTAssertEqual(result.status, 0, "\(name):\n\(result.output)")
            files["\(name).ko"] = out
        }

        let vm = TestVM()
        let payload = try vm.payload("kthread-safety", script: """
            kauditd=$(for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = kauditd ] && basename $d; done)
            expect_match kauditd-running "$kauditd" "^[0-9]+$"

            # apply --check on a clean patch: exit 0, nothing loaded.
            out=$(kpatchctl apply --check /payload/fork-copy-process.ko 2>&1); rc=$?
            echo "$out"
            expect_eq check-clean-exit "$rc" 0
            expect_match check-clean-says "$out" "would apply"
            expect_eq check-clean-loads-nothing "$(ls /sys/kernel/livepatch)" ""
            out=$(kpatchctl apply --check --json /payload/fork-copy-process.ko); rc=$?
            expect_eq check-json-exit "$rc" 0
            expect_match check-json-verdict "$(echo "$out" | tr -d ' \\n')" '"verdict":"clean"'
            expect_eq check-json-loads-nothing "$(ls /sys/kernel/livepatch)" ""

            # copy_process: reached by kthreadd, which is converted now. Applies by default.
            out=$(kpatchctl apply --json /payload/fork-copy-process.ko); rc=$?
            echo "$out"
            expect_eq fork-applies "$rc" 0
            flat=$(echo "$out" | tr -d ' \\n')
            expect_match fork-json-kthread-safety "$flat" '"kthreadSafety":\\{.*"refusals":\\[\\]'
            expect_match fork-json-stall-prediction "$flat" '"stallPrediction":\\{'
            expect_eq fork-works "$(sh -c 'echo forked')" "forked"
            check fork-revert kpatchctl revert lp_fork_copy_process

            # kfree (slab_common.c) returns nothing and takes a const pointer: no value an
            # unconverted kthread's loop keeps can come from it. Applies by default; the
            # kthreads that reach it are named in notes, kthreadd never.
            out=$(kpatchctl apply /payload/slab-kfree.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kfree-applies "$rc" 0
            if echo "$out" | grep -q "(kthreadd)"; then fail kfree-not-kthreadd "kthreadd named"; else pass kfree-not-kthreadd; fi
            expect_match kfree-note-says-why "$out" "note: kfree: not refused for the [0-9]+ unconverted kthread\\(s\\) that can still reach it from other files: no value can come back"
            expect_match kfree-note-names-kauditd "$out" "kthread $kauditd \\(kauditd\\), entry kauditd_thread: kauditd_thread -> .* -> kfree \\(nothing comes back through kfree\\)"
            expect_eq kfree-enabled "$(cat /sys/kernel/livepatch/lp_slab_kfree/enabled)" 1
            expect_eq kfree-transition-done "$(cat /sys/kernel/livepatch/lp_slab_kfree/transition)" 0
            # The patched kfree frees, and only it counts: it logs every 256th free through it
            # ("kpatchctl: patched kfree: N frees"). Under load (thousands of frees through
            # the shell and /proc) the count must climb by several lines.
            kfree_log() { dmesg | grep -E 'kpatchctl: patched kfree: [0-9]+ frees' || true; }
            kfree_lines() { kfree_log | grep -c . || true; }
            kfree_count() { kfree_log | tail -n 1 | sed -E 's/.*: ([0-9]+) frees.*/\\1/'; }
            # fork, exec and /proc reads: every exec frees its old mm, files and argv copies.
            free_load() { i=0; while [ $i -lt 300 ]; do /bin/sh -c 'cat /proc/self/status' > /dev/null; ls /proc > /dev/null; i=$((i+1)); done; }
            before=$(kfree_lines)
            free_load
            sleep 1
            after=$(kfree_lines); count=$(kfree_count)
            if [ "$after" -ge $((before + 4)) ] && [ "${count:-0}" -ge $((after * 256)) ]; then pass kfree-patched-path-counts
            else fail kfree-patched-path-counts "log lines $before -> $after, last count '$count'"; fi
            check kfree-revert kpatchctl revert lp_slab_kfree
            # The literal rule refuses kfree for every unconverted kthread that reaches it; apply --check says so.
            out=$(kpatchctl apply --check /payload/slab-kfree.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kfree-check-clean "$rc" 0
            expect_match kfree-check-strict-adds "$out" "strict: --kthread-rule strict would also refuse [0-9]+ kthread\\(s\\)"
            expect_match kfree-check-strict-kauditd "$out" "  kthread $kauditd \\(kauditd\\), entry kauditd_thread: kauditd_thread -> .* -> kfree"
            out=$(kpatchctl apply --kthread-rule strict /payload/slab-kfree.ko 2>&1); rc=$?
            expect_eq kfree-strict-refused "$rc" 2
            expect_match kfree-strict-names-kauditd "$out" "kthread $kauditd \\(kauditd\\), entry kauditd_thread reaches a patched function: kauditd_thread -> .* -> kfree"
            expect_eq kfree-strict-loads-nothing "$(ls /sys/kernel/livepatch)" ""
            # Reverted, the old kfree runs: the same load adds no line.
            sleep 1
            reverted=$(kfree_lines)
            free_load
            sleep 1
            expect_eq kfree-reverted-stops-counting "$(kfree_lines)" "$reverted"

            # __kmem_cache_free, one level down, takes writable pointers, but the kthreads' loops
            # reach it only through kfree: no value comes back. Applies, with the same notes.
            out=$(kpatchctl apply /payload/slab-kmem-cache-free.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kmemfree-applies "$rc" 0
            if echo "$out" | grep -q "(kthreadd)"; then fail kmemfree-not-kthreadd "kthreadd named"; else pass kmemfree-not-kthreadd; fi
            expect_match kmemfree-note-names-kauditd "$out" "kthread $kauditd \\(kauditd\\), entry kauditd_thread: kauditd_thread -> .* -> kfree -> __kmem_cache_free \\(nothing comes back through kfree\\)"
            i=0; while [ $i -lt 200 ]; do cat /proc/self/status > /dev/null; i=$((i+1)); done
            check kmemfree-revert kpatchctl revert lp_slab_kmem_cache_free

            # netlink_unicast returns a value kauditd's loop acts on (kauditd_send_queue):
            # refused by default (the mission's rule), naming the path; kthreadd never.
            out=$(kpatchctl apply /payload/net-netlink-unicast.ko 2>&1); rc=$?
            echo "$out"
            expect_eq netlink-refused "$rc" 2
            if echo "$out" | grep -q "(kthreadd)"; then fail netlink-not-kthreadd "kthreadd named"; else pass netlink-not-kthreadd; fi
            expect_match netlink-names-kauditd-path "$out" "kthread $kauditd \\(kauditd\\), entry kauditd_thread reaches a patched function: kauditd_thread -> kauditd_send_queue -> netlink_unicast"
            expect_eq netlink-loads-nothing "$(ls /sys/kernel/livepatch)" ""

            # set_user_nice: khungtaskd, ksmd and khugepaged call it once, before their loops;
            # asleep in their loops they never call it again. Applies by default.
            out=$(kpatchctl apply --json /payload/sched-set-user-nice.ko); rc=$?
            echo "$out"
            expect_eq nice-applies "$rc" 0
            expect_match nice-no-refusal "$(echo "$out" | tr -d ' \\n')" '"refusals":\\[\\]'
            # setpriority() -> set_one_prio() -> the patched set_user_nice().
            expect_eq nice-works "$(sh -c 'renice -n 7 -p $$ > /dev/null; cut -d" " -f19 /proc/$$/stat')" 7
            check nice-revert kpatchctl revert lp_sched_set_user_nice

            # kauditd_thread is kauditd's resident frame: refused by default, naming both.
            out=$(kpatchctl apply /payload/audit-kauditd-thread.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kauditd-refused "$rc" 2
            expect_match kauditd-names-kthread "$out" "kthread $kauditd \\\\(kauditd\\\\), entry kauditd_thread"
            expect_match kauditd-names-frame "$out" "resident frame kauditd_thread\\\\+0x"
            expect_match kauditd-says-stall "$out" "this kthread would never switch: the transition would stall"
            expect_eq kauditd-loads-nothing "$(ls /sys/kernel/livepatch)" ""
            # Forced: the transition stalls on kauditd and is reverted at the timeout.
            out=$(kpatchctl apply --allow-kthread kauditd --timeout 8 /payload/audit-kauditd-thread.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kauditd-forced-reversed "$rc" 4
            expect_match kauditd-forced-blocker "$out" "pid $kauditd tid $kauditd kauditd \\\\(kthread"
            expect_eq kauditd-forced-unloaded "$(ls /sys/kernel/livepatch)" ""

            # smpboot_thread_fn is resident in ksoftirqd, migration and cpuhp, converted or not.
            out=$(kpatchctl apply /payload/smpboot-thread-fn.ko 2>&1); rc=$?
            echo "$out"
            expect_eq smpboot-refused "$rc" 2
            expect_match smpboot-names-ksoftirqd "$out" "\\\\(ksoftirqd/0\\\\), entry smpboot_thread_fn, converted: resident frame smpboot_thread_fn"
            out=$(kpatchctl apply --check /payload/smpboot-thread-fn.ko 2>&1); rc=$?
            expect_eq smpboot-check-refused "$rc" 2
            expect_eq nothing-loaded-at-end "$(ls /sys/kernel/livepatch)" ""
            """, files: files)
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 300)
        XCTAssertChecksPassed(outcome, [
            "kauditd-running", "check-clean-exit", "check-clean-says", "check-clean-loads-nothing", "check-json-exit",
            "check-json-verdict", "check-json-loads-nothing", "fork-applies", "fork-json-kthread-safety",
            "fork-json-stall-prediction", "fork-works", "fork-revert", "kfree-applies", "kfree-not-kthreadd",
            "kfree-note-says-why", "kfree-note-names-kauditd", "kfree-enabled", "kfree-transition-done", "kfree-patched-path-counts",
            "kfree-revert", "kfree-check-clean", "kfree-check-strict-adds", "kfree-check-strict-kauditd", "kfree-strict-refused",
            "kfree-strict-names-kauditd", "kfree-strict-loads-nothing", "kfree-reverted-stops-counting", "kmemfree-applies", "kmemfree-not-kthreadd",
            "kmemfree-note-names-kauditd", "kmemfree-revert", "netlink-refused", "netlink-not-kthreadd", "netlink-names-kauditd-path",
            "netlink-loads-nothing", "nice-applies", "nice-no-refusal", "nice-works", "nice-revert", "kauditd-refused",
            "kauditd-names-kthread", "kauditd-names-frame", "kauditd-says-stall", "kauditd-loads-nothing",
            "kauditd-forced-reversed", "kauditd-forced-blocker", "kauditd-forced-unloaded", "smpboot-refused",
            "smpboot-names-ksoftirqd", "smpboot-check-refused", "nothing-loaded-at-end"])
    }
}
