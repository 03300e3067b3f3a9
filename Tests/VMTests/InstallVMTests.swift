import Foundation
import XCTest
import PatchModel
import TestSupport

/// The install store and load-installed in the pinned kernel, in one boot: a
/// kpvictim fix installed, applied by load-installed (sum fixed), a second
/// load-installed that does nothing, revert and uninstall; a cumulative patch
/// installed after the fix supersedes it (only it is applied); refusals that change
/// nothing (duplicate, full disk); the lock and state under a missing /run; a
/// /run that cannot be made named as such; the Prometheus textfile; the CVEs and
/// description of `build --cve/--description` in info, list --cves, status and the
/// textfile, and `kpatchctl check`'s exit codes (9 not loaded, 0 live).
final class InstallVMTests: XCTestCase {
    func testInstallLoadInstalledRevertUninstall() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("install-vm")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = try KbuildModule().build("install-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let patch = work.appendingPathComponent("livepatch_fix.ko")
        let build = try KpatchctlBinary().buildModulePatch(
            diff: bed.root.appendingPathComponent("examples/kpvictim/fix.diff"), moduleSource: victim, output: patch,
            cache: work.appendingPathComponent("cache"), extra: ["--name", "livepatch_fix", "--cve", "CVE-2099-0001", "--cve", "cve-2099-10002",
                                    "--description", "kpvictim: sum(1..n) misses n\nThe loop stopped one short."])
        XCTAssertEqual(build.status, 0, build.output)
        // A cumulative patch (--replace) that does not carry the fix: installed after it, it supersedes it.
        let cumulative = work.appendingPathComponent("livepatch_show.ko")
        let cumulativeBuild = try KpatchctlBinary().buildModulePatch(
            diff: bed.root.appendingPathComponent("examples/kpvictim/replace-show.diff"), moduleSource: victim, output: cumulative,
            cache: work.appendingPathComponent("cache"), extra: ["--name", "livepatch_show", "--replace"])
        XCTAssertEqual(cumulativeBuild.status, 0, cumulativeBuild.output)

        let vm = TestVM()
        let payload = try vm.payload("install", script: """
            insmod /payload/kpvictim.ko
            rel=$(uname -r)
            # An early boot without /run: the lock and the transition state must make it.
            rm -rf /run
            expect_eq no-run "$(ls -d /run 2>&1 | grep -c 'No such file')" "1"
            out=$(kpatchctl install /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_eq install-exit "$rc" "0"
            expect_match install-says "$out" "installed livepatch_fix for $rel \\\\(#1\\\\) in /var/lib/kpatchctl/$rel"
            expect_eq stored "$(ls /var/lib/kpatchctl/$rel | tr '\\n' ' ')" "livepatch_fix.json livepatch_fix.ko "
            out=$(kpatchctl list --installed); echo "$out"
            expect_match list-not-loaded "$out" "#1 livepatch_fix: not loaded.*; fixes CVE-2099-0001, CVE-2099-10002"
            out=$(kpatchctl info /payload/livepatch_fix.ko); echo "$out"
            expect_match info-cves "$out" "fixes: +CVE-2099-0001, CVE-2099-10002"
            expect_match info-description "$out" "description: +kpvictim: sum\\(1..n\\) misses n"
            out=$(kpatchctl check 2>&1); rc=$?
            echo "$out"
            expect_eq check-not-loaded-exit "$rc" "9"
            expect_match check-not-loaded-says "$out" "#1 livepatch_fix: not-loaded \\(CVE-2099-0001, CVE-2099-10002\\): installed for $rel but not in the kernel"
            kpatchctl status --prometheus /tmp/kpatchctl.prom; cat /tmp/kpatchctl.prom
            expect_match prom-not-loaded "$(cat /tmp/kpatchctl.prom)" "^kpatchctl_installed_not_loaded_patches 1$"
            expect_eq still-buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            out=$(kpatchctl install /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_eq duplicate-exit "$rc" "2"
            expect_match duplicate-says "$out" "already installed for $rel: uninstall it first"
            # A full disk: a 16 KiB tmpfs cannot hold the module; nothing is left behind.
            mkdir -p /tmp/small && mount -t tmpfs -o size=16k tmpfs /tmp/small
            out=$(kpatchctl install --state-dir /tmp/small /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_eq full-exit "$rc" "2"
            expect_match full-says "$out" "No space left on device; nothing was changed"
            expect_eq full-left-nothing "$(find /tmp/small -type f | wc -l)" "0"

            out=$(kpatchctl load-installed 2>&1); rc=$?
            echo "$out"
            expect_eq load-exit "$rc" "0"
            expect_match load-applied "$out" "livepatch_fix: applied"
            expect_eq fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq lock-made "$(ls /run/kpatchctl | grep -c '^lock$')" "1"
            out=$(kpatchctl load-installed --json); rc=$?
            echo "$out"
            expect_eq again-exit "$rc" "0"
            expect_match again-noop "$(echo "$out" | tr -d ' \\n')" '"action":"already-loaded".*"name":"livepatch_fix"'
            expect_eq again-one-patch "$(ls /sys/kernel/livepatch)" "livepatch_fix"
            out=$(kpatchctl list --installed); echo "$out"
            expect_match list-loaded "$out" "#1 livepatch_fix: loaded"
            out=$(kpatchctl check 2>&1); rc=$?
            echo "$out"
            expect_eq check-live-exit "$rc" "0"
            expect_match check-live-says "$out" "OK: 1 patch\\(es\\) live on $rel"
            out=$(kpatchctl list --cves); echo "$out"
            expect_eq list-cves "$out" "$(printf 'CVE-2099-0001  livepatch_fix  kpvictim: sum(1..n) misses n\nCVE-2099-10002  livepatch_fix  kpvictim: sum(1..n) misses n')"
            out=$(kpatchctl status); echo "$out"
            expect_match status-cves "$out" "fixes CVE-2099-0001, CVE-2099-10002"
            expect_match status-json-cves "$(kpatchctl status --json | tr -d ' \n')" '"operations":\\{"cves":\\["CVE-2099-0001","CVE-2099-10002"\\]'
            kpatchctl status --prometheus /tmp/kpatchctl.prom; cat /tmp/kpatchctl.prom
            prom=$(cat /tmp/kpatchctl.prom)
            expect_match prom-enabled "$prom" '^kpatchctl_patch_enabled\\{patch="livepatch_fix"\\} 1$'
            expect_match prom-installed-loaded "$prom" "^kpatchctl_installed_not_loaded_patches 0$"
            expect_match prom-outcome "$prom" '^kpatchctl_last_transition_outcome\\{patch="livepatch_fix",direction="patching",outcome="completed"\\} 1$'
            expect_match prom-cve "$prom" '^kpatchctl_cve_fixed\\{cve="CVE-2099-10002",patch="livepatch_fix"\\} 1$'
            expect_match prom-info "$prom" '^kpatchctl_patch_info\\{patch="livepatch_fix",cves="CVE-2099-0001,CVE-2099-10002",description="kpvictim: sum\\(1..n\\) misses n"\\} 1$'
            expect_match prom-duration "$prom" '^kpatchctl_last_transition_duration_seconds\\{patch="livepatch_fix",direction="patching"\\} [0-9.]+$'

            check revert kpatchctl revert livepatch_fix
            expect_eq buggy-again "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            out=$(kpatchctl check --json); rc=$?
            echo "$out"
            expect_eq check-reverted-exit "$rc" "9"
            expect_match check-reverted-json "$(echo "$out" | tr -d ' \n')" '"state":"not-loaded".*"verdict":"not-loaded"'
            expect_eq list-cves-none "$(kpatchctl list --cves)" "no CVE is fixed live"
            out=$(kpatchctl uninstall livepatch_fix 2>&1); rc=$?
            echo "$out"
            expect_eq uninstall-exit "$rc" "0"
            out=$(kpatchctl list --installed); echo "$out"
            expect_eq list-gone "$out" "no patch installed in /var/lib/kpatchctl"
            expect_eq store-empty "$(ls /var/lib/kpatchctl/$rel)" ""

            # A cumulative patch installed after the fix supersedes it: load-installed applies
            # only the cumulative one, and the fix's change is not in the kernel.
            check install-fix-again kpatchctl install /payload/livepatch_fix.ko
            check install-cumulative kpatchctl install /payload/livepatch_show.ko
            out=$(kpatchctl load-installed 2>&1); rc=$?
            echo "$out"
            expect_eq supersede-exit "$rc" "0"
            expect_match supersede-skips-fix "$out" "livepatch_fix: superseded by a later cumulative patch, not applied"
            expect_match supersede-applies-cumulative "$out" "livepatch_show: applied"
            expect_eq supersede-only-cumulative "$(ls /sys/kernel/livepatch)" "livepatch_show"
            expect_eq supersede-fix-not-in "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            expect_eq supersede-show-in "$(grep -c 'patched by the cumulative patch' /proc/kpvictim)" "1"
            out=$(kpatchctl check 2>&1); rc=$?
            echo "$out"
            expect_eq check-superseded-exit "$rc" "0"
            expect_match check-superseded-says "$out" "#1 livepatch_fix: superseded"
            check supersede-revert kpatchctl revert livepatch_show
            check supersede-uninstall kpatchctl uninstall livepatch_show
            check supersede-uninstall-fix kpatchctl uninstall livepatch_fix

            # /run that cannot be made (a file is in the way): the error says so, nothing loads.
            rm -rf /run; echo x > /run
            out=$(kpatchctl apply /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_eq run-blocked-exit "$rc" "2"
            expect_match run-blocked-says "$out" "create directory /run: Not a directory"
            if echo "$out" | grep -q "needs root"; then fail run-blocked-not-root "$out"; else pass run-blocked-not-root; fi
            expect_eq run-blocked-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            rm -f /run; mkdir /run
            """, files: ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko"), "livepatch_fix.ko": patch,
                         "livepatch_show.ko": cumulative])
        let outcome = try vm.run(payload: payload, timeout: 240)
        XCTAssertChecksPassed(outcome, [
            
            "no-run", "install-exit", "install-says", "stored", "list-not-loaded", "info-cves", "info-description",
            "check-not-loaded-exit", "check-not-loaded-says", "prom-not-loaded", "still-buggy",
            "duplicate-exit", "duplicate-says", "full-exit", "full-says", "full-left-nothing",
            "load-exit", "load-applied", "fixed", "lock-made", "again-exit", "again-noop", "again-one-patch",             "list-loaded",
            "check-live-exit", "check-live-says", "list-cves", "status-cves", "status-json-cves",
            "prom-enabled", "prom-installed-loaded", "prom-outcome", "prom-cve", "prom-info", "prom-duration",
            "revert", "buggy-again", "check-reverted-exit", "check-reverted-json", "list-cves-none", "uninstall-exit", "list-gone", "store-empty", "install-fix-again", "install-cumulative",
            "supersede-exit", "supersede-skips-fix", "supersede-applies-cumulative", "supersede-only-cumulative",
                        "supersede-fix-not-in", "supersede-show-in", "check-superseded-exit", "check-superseded-says",
            "supersede-revert", "supersede-uninstall", "supersede-uninstall-fix",
            "run-blocked-exit", "run-blocked-says", "run-blocked-not-root", "run-blocked-nothing-loaded"])
    }
}
