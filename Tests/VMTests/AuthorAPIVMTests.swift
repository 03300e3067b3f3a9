import XCTest
import TestSupport

/// The patch-author API (kmod/include/kpatch-macros.h, kpatch-syscall.h) and
/// cumulative patches, built on the host and checked in the pinned kernel.
final class AuthorAPIVMTests: XCTestCase {
    /// kpvictim: kpatch-style callbacks (order in dmesg), a vetoing pre-patch
    /// callback, atomic replace, shadow variables handed over through a klp_state,
    /// and a state downgrade refused. One boot.
    func testModuleCallbacksVetoAtomicReplaceShadowAndStates() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("author")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = try KbuildModule().build("author-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        var files = ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko")]
        var outputs: [String: String] = [:]
        let builds = [("callbacks", false), ("veto", false), ("fix", false), ("replace-show", true),
                      ("shadow", false), ("shadow-v2", true), ("shadow-old-state", true)]
        for (diff, replace) in builds {
            let out = work.appendingPathComponent("\(diff).ko")
            let result = try KpatchctlBinary().buildModulePatch(
                diff: bed.root.appendingPathComponent("examples/kpvictim/\(diff).diff"), moduleSource: victim, output: out,
                cache: work.appendingPathComponent("cache"), extra: replace ? ["--replace"] : [])
            XCTAssertEqual(result.status, 0, "\(diff):\n\(result.output)")
            outputs[diff] = result.output
            files["\(diff).ko"] = out
        }
        // Source compatibility: all four kpatch macros are found and wired.
        for kind in ["pre-patch kpvictim_pre_patch", "post-patch kpvictim_post_patch",
                     "pre-unpatch kpvictim_pre_unpatch", "post-unpatch kpvictim_post_unpatch"] {
            XCTAssertTrue(outputs["callbacks"]!.contains("callback: kpvictim \(kind)"), outputs["callbacks"]!)
        }
        XCTAssertTrue(outputs["replace-show"]!.contains("cumulative: replaces every enabled livepatch"), outputs["replace-show"]!)
        XCTAssertTrue(outputs["shadow"]!.contains("declares state 1 version 2"), outputs["shadow"]!)

        let vm = TestVM()
        let payload = try vm.payload("author", script: """
            insmod /payload/kpvictim.ko
            sum() { grep sum /proc/kpvictim; }
            cb_log() { dmesg | grep "kpvictim-cb: " | sed 's/.*kpvictim-cb: //' | tr '\\n' '|'; }

            # Callbacks, written as kpatch patches write them.
            check cb-apply kpatchctl apply /payload/callbacks.ko
            expect_eq cb-fixed "$(sum)" "sum(1..10) = 55"
            expect_eq cb-order-patch "$(cb_log)" "pre-patch kpvictim patched=0|post-patch kpvictim patched=1|new kpvictim_sum runs|"
            check cb-revert kpatchctl revert livepatch_callbacks
            expect_eq cb-reverted "$(sum)" "sum(1..10) = 45"
            expect_eq cb-order-unpatch "$(cb_log)" "pre-patch kpvictim patched=0|post-patch kpvictim patched=1|new kpvictim_sum runs|pre-unpatch kpvictim patched=1|post-unpatch kpvictim patched=0|"

            # A pre-patch callback vetoes with -EBUSY.
            out=$(kpatchctl apply /payload/veto.ko 2>&1); rc=$?
            echo "$out"
            expect_eq veto-exit "$rc" "3"
            expect_match veto-names-callback "$out" "pre-patch callback kpvictim_veto_pre_patch of object kpvictim vetoed the patch with EBUSY"
            expect_eq veto-nothing-in-sysfs "$(ls /sys/kernel/livepatch)" ""
            if grep -q "^livepatch_veto " /proc/modules; then fail veto-not-loaded "still in /proc/modules"; else pass veto-not-loaded; fi
            expect_eq veto-still-buggy "$(sum)" "sum(1..10) = 45"
            out=$(kpatchctl apply --json /payload/veto.ko); rc=$?
            expect_eq veto-json-exit "$rc" "3"
            expect_match veto-json "$(echo "$out" | tr -d '\\n')" '"error" *: *".*kpvictim_veto_pre_patch.*EBUSY'

            # Atomic replace: v1 fixes kpvictim_sum (A), v2 changes only kpvictim_show (B).
            check v1-apply kpatchctl apply /payload/fix.ko
            expect_eq v1-fixed "$(sum)" "sum(1..10) = 55"
            expect_match info-cumulative "$(kpatchctl info /payload/replace-show.ko)" "cumulative: +yes"
            expect_match info-not-cumulative "$(kpatchctl info /payload/fix.ko)" "cumulative: +no"
            out=$(kpatchctl apply /payload/replace-show.ko 2>&1); rc=$?
            echo "$out"
            expect_eq v2-apply "$rc" "0"
            expect_match v2-says-replaced "$out" "replaced livepatch_fix"
            expect_eq a-original "$(sum)" "sum(1..10) = 45"
            expect_match b-new "$(cat /proc/kpvictim)" "patched by the cumulative patch"
            expect_eq v1-sysfs-gone "$(ls /sys/kernel/livepatch)" "livepatch_replace_show"
            if grep -q "^livepatch_fix " /proc/modules; then fail v1-module-gone "still in /proc/modules"; else pass v1-module-gone; fi
            expect_match list-replaced "$(kpatchctl list)" "cumulative \\\\(--replace\\\\), replaced livepatch_fix"
            kpatchctl status --json > /tmp/status.json
            echo "STATUS-JSON-BEGIN"; cat /tmp/status.json; echo "STATUS-JSON-END"
            check v2-revert kpatchctl revert livepatch_replace_show
            expect_eq all-original "$(cat /proc/kpvictim | grep -c 'cumulative')-$(sum)" "0-sum(1..10) = 45"
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""

            # Shadow variables: attached by the new kpvictim_release_write, read by the new kpvictim_show.
            check shadow-apply kpatchctl apply /payload/shadow.ko
            expect_eq shadow-none-yet "$(grep 'shadow writes' /proc/kpvictim)" "shadow writes = -1"
            echo x > /proc/kpvictim_release; echo x > /proc/kpvictim_release
            expect_eq shadow-counted "$(grep 'shadow writes' /proc/kpvictim)" "shadow writes = 2"
            # A cumulative patch that handles only an older version of state 1 is refused.
            out=$(kpatchctl apply /payload/shadow-old-state.ko 2>&1); rc=$?
            echo "$out"
            expect_eq state-refused-exit "$rc" "2"
            expect_match state-reason "$out" "state 1: running patch livepatch_shadow set it up at version 2, livepatch_shadow_old_state handles version 1 only"
            expect_eq state-nothing-loaded "$(ls /sys/kernel/livepatch)" "livepatch_shadow"
            # Without apply's records the kernel refuses it itself (klp_is_patch_compatible), and apply says why.
            mv /run/kpatchctl/patches.json /tmp/patches.json
            out=$(kpatchctl apply /payload/shadow-old-state.ko 2>&1); rc=$?
            echo "$out"
            mv /tmp/patches.json /run/kpatchctl/patches.json
            expect_eq kernel-state-refused-exit "$rc" "3"
            expect_match kernel-state-reason "$out" "the kernel refused livepatch_shadow_old_state: its system states are not compatible"
            expect_eq kernel-state-nothing-loaded "$(ls /sys/kernel/livepatch)" "livepatch_shadow"
            # The cumulative v2 takes the shadow data over (klp_get_prev_state), then frees it on revert.
            check shadow-v2-apply kpatchctl apply /payload/shadow-v2.ko
            expect_match shadow-prev-state "$(dmesg | grep kpvictim-shadow)" "v2 pre-patch \\\\(state version 2\\\\): taking over the shadow writes of the replaced patch"
            expect_eq shadow-taken-over "$(grep 'shadow writes' /proc/kpvictim)" "shadow writes v2 = 2"
            echo x > /proc/kpvictim_release
            expect_eq shadow-v2-counts "$(grep 'shadow writes' /proc/kpvictim)" "shadow writes v2 = 3"
            check shadow-v2-revert kpatchctl revert livepatch_shadow_v2
            expect_match shadow-freed "$(dmesg | grep kpvictim-shadow | tail -n 1)" "v2 post-unpatch: shadow writes freed"
            check shadow-again kpatchctl apply /payload/shadow.ko
            expect_eq shadow-fresh "$(grep 'shadow writes' /proc/kpvictim)" "shadow writes = -1"
            check shadow-again-revert kpatchctl revert livepatch_shadow
            expect_eq end-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            """, files: files)
        let outcome = try vm.run(payload: payload, timeout: 300)
        XCTAssertChecksPassed(outcome, [
            "cb-apply", "cb-fixed", "cb-order-patch", "cb-revert", "cb-reverted", "cb-order-unpatch",
            "veto-exit", "veto-names-callback", "veto-nothing-in-sysfs", "veto-not-loaded", "veto-still-buggy", "veto-json", "veto-json-exit",
            "v1-apply", "v1-fixed", "info-cumulative", "info-not-cumulative", "v2-apply", "v2-says-replaced", "a-original",
            "b-new", "v1-sysfs-gone", "v1-module-gone", "list-replaced", "v2-revert", "all-original", "nothing-loaded",
            "shadow-apply", "shadow-none-yet", "shadow-counted", "state-refused-exit", "state-reason", "state-nothing-loaded",
            "kernel-state-refused-exit", "kernel-state-reason", "kernel-state-nothing-loaded",
            "shadow-v2-apply", "shadow-prev-state", "shadow-taken-over", "shadow-v2-counts", "shadow-v2-revert", "shadow-freed",
            "shadow-again", "shadow-fresh", "shadow-again-revert", "end-nothing-loaded"])
        // status --json while v2 ran: it names v2, cumulative, and that it replaced v1.
        let console = outcome.consoleLog.replacingOccurrences(of: "\r", with: "")
        let json = try XCTUnwrap(console.components(separatedBy: "STATUS-JSON-BEGIN\n").last?
            .components(separatedBy: "STATUS-JSON-END").first)
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let patches = try XCTUnwrap(status["patches"] as? [[String: Any]])
        XCTAssertEqual(patches.map { $0["name"] as? String }, ["livepatch_replace_show"], json)
        let applied = try XCTUnwrap(patches.first?["applied"] as? [String: Any], json)
        XCTAssertEqual(applied["replaced"] as? [String], ["livepatch_fix"], json)
        XCTAssertEqual(applied["cumulative"] as? Bool, true, json)
        XCTAssertNotNil(applied["appliedAt"] as? Double, json)
    }

    /// vmlinux: a KPATCH_SYSCALL_DEFINE1(newuname) patch changes `uname -s`
    /// (through the traced __x64_sys_newuname), with vmlinux callbacks in dmesg;
    /// then a callbacks-only patch of binfmt_misc, applied before the module loads;
    /// then KPATCH_SYSCALL_DEFINE3(setpriority) and KPATCH_SYSCALL_DEFINE0(sync) in one patch.
    func testSyscallPatchWithVmlinuxCallbacks() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("author-uname")
        defer { try? FileManager.default.removeItem(at: work) }
        /// examples/vmlinux/DIFF built as livepatch NAME into FILE in `work`; its build output.
        func buildExample(_ diff: String, name: String, file: String) throws -> (URL, String) {
            let out = work.appendingPathComponent(file)
            let result = try KpatchctlBinary().buildKernelPatch(
                diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff)"), output: out, extra: ["--name", name])
            XCTAssertEqual(result.status, 0, result.output)
            return (out, result.output)
        }
        let (out, build) = try buildExample("uname-syscall.diff", name: "lp_uname", file: "uname.ko")
        XCTAssertTrue(build.contains("vmlinux: __x64_sys_newuname"), build)
        XCTAssertTrue(build.contains("callback: vmlinux pre-patch kpatchctl_uname_pre_patch"), build)
        // Callbacks only, for an in-tree module: an object without functions.
        let (callbacksOnly, cbBuild) = try buildExample("binfmt-misc-callbacks.diff", name: "lp_binfmt_cb", file: "binfmt-cb.ko")
        XCTAssertTrue(cbBuild.contains("replaces 0 function(s)"), cbBuild)
        XCTAssertTrue(cbBuild.contains("callback: binfmt_misc pre-patch binfmt_cb_pre_patch"), cbBuild)
        // KPATCH_SYSCALL_DEFINE0(sync) and KPATCH_SYSCALL_DEFINE3(setpriority), two files in one patch.
        let (syscalls, syscallBuild) = try buildExample("syscall-define0-define3.diff", name: "lp_syscalls", file: "syscalls.ko")
        XCTAssertTrue(syscallBuild.contains("vmlinux: __x64_sys_setpriority"), syscallBuild)
        XCTAssertTrue(syscallBuild.contains("vmlinux: __do_sys_sync"), syscallBuild)

        let vm = TestVM()
        let payload = try vm.payload("author-uname", script: """
            expect_eq uname-before "$(uname -s)" "Linux"
            check uname-apply kpatchctl apply /payload/uname.ko
            expect_eq uname-patched "$(uname -s)" "Kpatched"
            check uname-revert kpatchctl revert lp_uname
            expect_eq uname-restored "$(uname -s)" "Linux"
            expect_eq uname-callback-order "$(dmesg | grep 'kpatchctl-uname: ' | sed 's/.*kpatchctl-uname: //' | tr '\\n' '|')" "pre-patch vmlinux patched=0|post-patch vmlinux patched=1|post-unpatch vmlinux patched=0|"

            # Callbacks of a module that is not loaded yet run when it loads.
            bcb_log() { dmesg | grep 'binfmt-cb: ' | sed 's/.*binfmt-cb: //' | tr '\\n' '|'; }
            check bcb-apply kpatchctl apply /payload/binfmt-cb.ko
            expect_eq bcb-none-yet "$(bcb_log)" ""
            insmod /lib/modules/$(uname -r)/kernel/fs/binfmt_misc.ko
            expect_eq bcb-on-module-load "$(bcb_log)" "pre-patch binfmt_misc patched=0|post-patch binfmt_misc patched=1|"
            check bcb-revert kpatchctl revert lp_binfmt_cb
            expect_eq bcb-on-revert "$(bcb_log)" "pre-patch binfmt_misc patched=0|post-patch binfmt_misc patched=1|post-unpatch binfmt_misc patched=0|"

            # DEFINE3: setpriority caps niceness at 10 while patched; DEFINE0: sync logs a line.
            nice_after() { sh -c "renice -n $1 -p \\$\\$ > /dev/null; cut -d' ' -f19 /proc/\\$\\$/stat"; }
            expect_eq define3-before "$(nice_after 15)" "15"
            check syscalls-apply kpatchctl apply /payload/syscalls.ko
            expect_eq define3-patched "$(nice_after 15)" "10"
            sync
            expect_eq define0-patched "$(dmesg | grep -c 'kpatchctl-sync: the patched sync(2) ran')" "1"
            check syscalls-revert kpatchctl revert lp_syscalls
            expect_eq define3-restored "$(nice_after 15)" "15"
            sync
            expect_eq define0-restored "$(dmesg | grep -c 'kpatchctl-sync: the patched sync(2) ran')" "1"
            """, files: ["uname.ko": out, "binfmt-cb.ko": callbacksOnly, "syscalls.ko": syscalls])
        let outcome = try vm.run(payload: payload, timeout: 180, modules: ["kernel/fs/binfmt_misc.ko"])
        XCTAssertChecksPassed(outcome, ["uname-before", "uname-apply", "uname-patched", "uname-revert", "uname-restored",
                                        "uname-callback-order", "bcb-apply", "bcb-none-yet", "bcb-on-module-load", "bcb-revert",
                                        "bcb-on-revert", "define3-before", "syscalls-apply", "define3-patched", "define0-patched",
                                        "syscalls-revert", "define3-restored", "define0-restored"])
    }
}
