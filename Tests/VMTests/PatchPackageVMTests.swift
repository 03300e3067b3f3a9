import Foundation
import XCTest
import TestSupport

/// The maintainer scripts `kpatchctl package` writes, run in the pinned kernel in one
/// boot of the busybox VM, in the order dpkg runs them (Debian Policy 6.6): install
/// (unpack, postinst configure) applies the patch; configure again changes nothing; an
/// upgrade to the cumulative next generation (old prerm upgrade, unpack, old postrm
/// upgrade, new postinst configure) replaces it in one transition with no unpatched gap;
/// remove (prerm remove, postrm remove) reverts it and empties the store. The busybox
/// guest has no dpkg: it runs the scripts dpkg would run, with the package's files copied
/// in as dpkg would unpack them (dpkg and apt running them on a real Debian system:
/// DebianGuestVMTests).
/// Then module signing: the v1 module is built with `--sign-key`/`--sign-cert` (a key
/// the kernel does not trust); with module.sig_enforce switched on, apply refuses the
/// unsigned v2 before loading (module-signature) and the kernel itself rejects the
/// signed v1 (EKEYREJECTED); nothing is left loaded.
final class PatchPackageVMTests: XCTestCase {
    func testMaintainerScriptsInstallUpgradeRemove() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("package-vm")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = try KbuildModule().build("package-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let release = bed.kernelRelease
        let (key, cert) = try SigningKey.make(in: work)
        func build(_ name: String, _ extra: [String]) throws -> URL {
            let (ko, result) = try KpatchctlBinary().buildKpvictimFix(name, victim: victim, in: work, extra: extra)
            XCTAssertEqual(result.status, 0, result.output)
            return ko
        }
        let v1 = try build("livepatch_fix", ["--cve", "CVE-2099-0001", "--description", "kpvictim: sum(1..n) misses n",
                                             "--sign-key", key.path, "--sign-cert", cert.path])
        let v2 = try build("livepatch_fix_v2", ["--replace", "--cve", "CVE-2099-0001", "--cve", "CVE-2099-0002",
                                                "--description", "kpvictim: sum(1..n) misses n (cumulative)"])
        let info = try KpatchctlBinary().run(["info", v1.path])
        XCTAssertTrue(info.output.contains("signer:         kpatchctl test signing key (key serial "), info.output)
        let debs = work.appendingPathComponent("debs")
        let packaged = try KpatchctlBinary().run(["package", v1.path, v2.path, "-o", debs.path, "--maintainer", "kpatchctl tests <tests@example.org>"])
        XCTAssertEqual(packaged.status, 0, packaged.output)

        let vm = TestVM()
        let payload = try vm.payload("package", script: """
            insmod /payload/kpvictim.ko
            rel=$(uname -r)
            ko=/usr/lib/kpatchctl/packages/$rel
            expect_eq buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"

            # Install: unpack, then postinst configure.
            cp -a /payload/v1/data/. /
            out=$(sh /payload/v1/control/postinst configure 2>&1); rc=$?
            echo "$out"
            expect_eq install-exit "$rc" "0"
            expect_match install-applied "$out" "livepatch_fix: applied"
            expect_eq install-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq install-stored "$(ls /var/lib/kpatchctl/$rel | tr '\\n' ' ')" "livepatch_fix.json livepatch_fix.ko "
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq install-check "$rc" "0"
            expect_eq install-cves "$(kpatchctl list --cves)" "CVE-2099-0001  livepatch_fix  kpvictim: sum(1..n) misses n"
            # configure again (dpkg-reconfigure, a retried configure): nothing changes.
            out=$(sh /payload/v1/control/postinst configure 2>&1); rc=$?
            echo "$out"
            expect_eq reconfigure-exit "$rc" "0"
            expect_match reconfigure-noop "$out" "livepatch_fix: already loaded"
            expect_eq reconfigure-one "$(ls /sys/kernel/livepatch)" "livepatch_fix"

            # Upgrade to generation 2, cumulative, in dpkg's order.
            dmesg -c > /dev/null
            out=$(sh /payload/v1/control/prerm upgrade 2 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-prerm-exit "$rc" "0"
            expect_eq upgrade-prerm-keeps "$(cat /sys/kernel/livepatch/livepatch_fix/enabled)" "1"
            cp -a /payload/v2/data/. /
            out=$(sh /payload/v1/control/postrm upgrade 2 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-postrm-exit "$rc" "0"
            expect_eq upgrade-still-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            rm $ko/livepatch_fix.ko
            out=$(sh /payload/v2/control/postinst configure 1 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-exit "$rc" "0"
            expect_match upgrade-applied "$out" "livepatch_fix_v2: applied"
            expect_eq upgrade-only-v2 "$(ls /sys/kernel/livepatch)" "livepatch_fix_v2"
            expect_eq upgrade-old-unloaded "$(grep -c '^livepatch_fix ' /proc/modules)" "0"
            expect_eq upgrade-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            log=$(dmesg); echo "$log" | grep livepatch
            expect_eq upgrade-one-transition "$(echo "$log" | grep -c 'starting patching transition')" "1"
            expect_eq upgrade-no-unpatching "$(echo "$log" | grep -c 'unpatching transition')" "0"
            expect_eq upgrade-stored "$(ls /var/lib/kpatchctl/$rel | tr '\\n' ' ')" "livepatch_fix_v2.json livepatch_fix_v2.ko "
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-check "$rc" "0"
            expect_match upgrade-cves "$(kpatchctl list --cves)" "CVE-2099-0002  livepatch_fix_v2"

            # Remove: prerm remove reverts, the files go, postrm remove empties the store.
            out=$(sh /payload/v2/control/prerm remove 2>&1); rc=$?; echo "$out"
            expect_eq remove-prerm-exit "$rc" "0"
            expect_eq remove-reverted "$(ls /sys/kernel/livepatch)" ""
            expect_eq remove-buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            rm $ko/livepatch_fix_v2.ko
            out=$(sh /payload/v2/control/postrm remove 2>&1); rc=$?; echo "$out"
            expect_eq remove-postrm-exit "$rc" "0"
            expect_eq remove-store-empty "$(ls /var/lib/kpatchctl/$rel)" ""
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq remove-check "$rc" "0"
            expect_match remove-check-says "$out" "OK: no patch installed for $rel"

            # Signatures enforced from now on (module.sig_enforce only goes from N to Y).
            echo 1 > /sys/module/module/parameters/sig_enforce
            out=$(kpatchctl apply /payload/v2/data$ko/livepatch_fix_v2.ko 2>&1); rc=$?; echo "$out"
            expect_eq unsigned-exit "$rc" "2"
            expect_match unsigned-preflight "$out" "module-signature: the kernel only loads signed modules"
            out=$(kpatchctl apply /payload/v1/data$ko/livepatch_fix.ko 2>&1); rc=$?; echo "$out"
            expect_eq untrusted-exit "$rc" "3"
            expect_match untrusted-kernel-says "$out" "Key was rejected by service"
            expect_match untrusted-dmesg "$(dmesg)" "Loading of module with unavailable key is rejected"
            expect_eq nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            expect_eq nothing-in-modules "$(grep -c '^livepatch_fix' /proc/modules)" "0"
            """, files: ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko")])
        for (label, deb) in [("v1", "kpatch-livepatch-fix-\(release)_1_amd64.deb"), ("v2", "kpatch-livepatch-fix-\(release)_2_amd64.deb")] {
            let dir = payload.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try runChecked(["dpkg-deb", "-x", debs.appendingPathComponent(deb).path, dir.appendingPathComponent("data").path])
            try runChecked(["dpkg-deb", "-e", debs.appendingPathComponent(deb).path, dir.appendingPathComponent("control").path])
        }
        let outcome = try vm.run(payload: payload, timeout: 600)
        XCTAssertTrue(outcome.passed, outcome.report)
        XCTAssertTrue(outcome.failedChecks.isEmpty, outcome.failedChecks.joined(separator: "\n"))
        for name in ["install-applied", "reconfigure-noop", "upgrade-one-transition", "upgrade-no-unpatching", "remove-reverted",
                     "unsigned-preflight", "untrusted-kernel-says", "nothing-loaded"] {
            XCTAssertTrue(outcome.passed(name), "\(name) did not pass:\n\(outcome.report)")
        }
    }
}
