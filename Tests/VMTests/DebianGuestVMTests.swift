import Foundation
import XCTest
import TestSupport

/// The fleet path on a real Debian 12 system (issue 22 item 6): the mmdebstrap image of
/// scripts/debian-guest (minbase, systemd, apt, the pinned 6.1 linux-image) boots on the
/// pinned kernel through vm-run --disk, twice on one copy of its disk (the second boot is
/// the reboot). The host builds kpatchctl's own .deb (scripts/package), the kpvictim fix as
/// generation 1 (`package`) and as the cumulative generation 2 (`build --replace --deb`),
/// and publishes them with scripts/publish-repo into signed repositories (one with v1, one
/// after v2 was added) plus two tampered copies; they go in on the payload disk. In the guest:
///  - boot 1: apt installs kpatchctl's .deb (its postinst enables and starts
///    kpatchctl.service); a repository whose InRelease was changed is refused by apt-get
///    update, one whose .deb was swapped is refused by apt-get install, and nothing is
///    installed; from the good repository (signed-by) apt installs the patch package and its
///    postinst applies it;
///  - boot 2: kpatchctl.service applied it again at boot and is active; check, list --cves
///    and status show it; `apt-get upgrade` moves to generation 2 in one patching transition (v1's
///    module unloaded); `apt-get install --reinstall` keeps it live with no transition; apt-get remove reverts it and empties the store.
/// vm-run's forensics (WARN, oops, lockups, stalls fail the run) read the guest's kernel log.
final class DebianGuestVMTests: XCTestCase {
    func testAptInstallRebootUpgradeRemove() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("debian-guest")
        defer { try? FileManager.default.removeItem(at: work) }
        let release = bed.kernelRelease
        let maintainer = "kpatchctl tests <tests@example.org>"

        // kpatchctl's own package, and the guest image its dependencies go into (built once per
        // test bed, ~6 min; scripts/debian-guest says so when it builds).
        let kpatchctlDeb = try runChecked([bed.script("package").path, "--no-build", "--out", work.appendingPathComponent("dist").path])
            .split(separator: "\n").last.map(String.init) ?? ""
        print("==> scripts/debian-guest image: the Debian guest image (scripts/test starts building it before kpatchctl compiles; otherwise built here on first use in this test bed, 6 min at light load, 17 min at load 9)")
        let image = URL(fileURLWithPath: try runChecked([bed.script("debian-guest").path, "image"])
            .split(separator: "\n").last.map(String.init) ?? "")

        let victim = try KbuildModule().build("guest-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        func build(_ name: String, _ extra: [String]) throws -> URL {
            let (ko, result) = try KpatchctlBinary().buildKpvictimFix(name, victim: victim, in: work, extra: extra)
            XCTAssertEqual(result.status, 0, result.output)
            return ko
        }
        let v1 = try build("livepatch_fix", ["--cve", "CVE-2099-0001", "--description", "kpvictim: sum(1..n) misses n"])
        _ = try build("livepatch_fix_v2", ["--replace", "--cve", "CVE-2099-0001", "--cve", "CVE-2099-0002",
                                           "--description", "kpvictim: sum(1..n) misses n (cumulative)", "--deb", "--maintainer", maintainer])
        let package = "kpatch-livepatch-fix-\(release)"
        let debs = work.appendingPathComponent("debs")
        XCTAssertEqual(try KpatchctlBinary().run(["package", v1.path, "-o", debs.path, "--maintainer", maintainer]).status, 0)
        let deb1 = debs.appendingPathComponent("\(package)_1_amd64.deb"), deb2 = work.appendingPathComponent("\(package)_2_amd64.deb")

        // The repositories, as an operator publishes them: v1, then v2 added (reprepro keeps the newest).
        let payload = work.appendingPathComponent("payload")
        try FileManager.default.createDirectory(at: payload, withIntermediateDirectories: true)
        let key = try ArchiveKey.make(in: work)
        let repo = work.appendingPathComponent("repo")
        func publish(_ deb: URL, snapshot: String) throws {
            let result = try runCommand([bed.script("publish-repo").path, "--repo", repo.path, "--key", key.fingerprint, deb.path],
                                        environment: key.environment)
            XCTAssertEqual(result.status, 0, result.output)
            try runChecked(["cp", "-a", repo.path, payload.appendingPathComponent(snapshot).path])
        }
        try publish(deb1, snapshot: "repo1")
        try publish(deb2, snapshot: "repo2")
        try runChecked(["cp", repo.appendingPathComponent("kpatchctl-archive-keyring.gpg").path, payload.path])
        for dir in ["db", "conf"] {
            for snapshot in ["repo1", "repo2"] { try FileManager.default.removeItem(at: payload.appendingPathComponent("\(snapshot)/\(dir)")) }
        }
        // Tampered copies of repo1: InRelease changed after signing; the .deb in the pool swapped for
        // another build of version 1 (same name and version, other bytes: the Packages hashes no longer match).
        try runChecked(["cp", "-a", payload.appendingPathComponent("repo1").path, payload.appendingPathComponent("repo-badsig").path])
        let inRelease = payload.appendingPathComponent("repo-badsig/dists/bookworm/InRelease")
        let signed = try String(contentsOf: inRelease, encoding: .utf8)
        XCTAssertTrue(signed.contains("Label: kpatchctl live patches"), signed)
        try signed.replacingOccurrences(of: "Label: kpatchctl live patches", with: "Label: kpatchctl live patchez")
            .write(to: inRelease, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: payload.appendingPathComponent("repo-badsig/dists/bookworm/Release.gpg"))
        try runChecked(["cp", "-a", payload.appendingPathComponent("repo1").path, payload.appendingPathComponent("repo-swapped").path])
        let other = work.appendingPathComponent("other")
        XCTAssertEqual(try KpatchctlBinary().run(["package", v1.path, "-o", other.path, "--maintainer", "Someone Else <else@example.org>"]).status, 0)
        let pooled = try XCTUnwrap(FileManager.default.enumerator(at: payload.appendingPathComponent("repo-swapped/pool"), includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.first { $0.lastPathComponent == "\(package)_1_amd64.deb" })
        let swapped = try Data(contentsOf: other.appendingPathComponent("\(package)_1_amd64.deb"))
        XCTAssertNotEqual(swapped, try Data(contentsOf: pooled))
        try swapped.write(to: pooled)
        try runChecked(["cp", kpatchctlDeb, payload.appendingPathComponent("kpatchctl.deb").path])
        try runChecked(["cp", victim.appendingPathComponent("kpvictim.ko").path, payload.path])
        try runChecked(["chmod", "-R", "a+rX", payload.path])

        // Shared by both boots: apt's source for the patches, signed-by the archive key.
        let common = """
            rel=$(uname -r)
            pkg=kpatch-livepatch-fix-$rel
            keyring=/usr/share/keyrings/kpatchctl-archive-keyring.gpg
            use_repo() { echo "deb [signed-by=$keyring] file:/payload/$1 bookworm main" > /etc/apt/sources.list.d/kpatchctl.list; }
            installed() { dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null; }
            export DEBIAN_FRONTEND=noninteractive

            """
        let boot1 = common + """
            # kpatchctl's own package: its postinst enables and starts kpatchctl.service.
            out=$(apt-get install -y --no-install-recommends /payload/kpatchctl.deb 2>&1); rc=$?; echo "$out" | tail -n 3
            expect_eq kpatchctl-install "$rc" "0"
            expect_eq kpatchctl-enabled "$(systemctl is-enabled kpatchctl.service)" "enabled"
            expect_eq kpatchctl-started "$(systemctl is-active kpatchctl.service)" "active"
            # The fixed module loads at boot, as a machine's own modules do.
            mkdir -p /lib/modules/$rel/extra && cp /payload/kpvictim.ko /lib/modules/$rel/extra/ && depmod -a
            echo kpvictim > /etc/modules-load.d/kpvictim.conf
            modprobe kpvictim
            expect_eq victim-buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            cp /payload/kpatchctl-archive-keyring.gpg $keyring

            # A repository whose InRelease changed after signing: apt-get update refuses it.
            use_repo repo-badsig
            out=$(apt-get update 2>&1); rc=$?; echo "$out"
            expect_match badsig-update-fails "$rc" "^[1-9]"
            expect_match badsig-apt-says "$out" "BADSIG"
            out=$(apt-get install -y "$pkg" 2>&1); rc=$?; echo "$out" | tail -n 2
            expect_match badsig-install-fails "$rc" "^[1-9]"
            expect_match badsig-no-package "$out" "Unable to locate package"
            # A repository whose .deb was swapped: the index is signed, the file does not match it.
            rm -rf /var/lib/apt/lists/*
            use_repo repo-swapped
            out=$(apt-get update 2>&1); rc=$?; echo "$out"
            expect_eq swapped-update "$rc" "0"
            out=$(apt-get install -y "$pkg" 2>&1); rc=$?; echo "$out" | grep -E '^(E|Err|W):|Hash'
            expect_match swapped-install-fails "$rc" "^[1-9]"
            expect_match swapped-apt-says "$out" "Hash Sum mismatch|hashes of expected file|unexpected size"
            expect_eq tampered-nothing-installed "$(installed)" ""
            expect_eq tampered-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            expect_eq tampered-store-empty "$(ls /var/lib/kpatchctl/$rel 2>/dev/null)" ""

            # The signed repository: apt installs generation 1; its postinst applies it.
            rm -rf /var/lib/apt/lists/*
            use_repo repo1
            out=$(apt-get update 2>&1); rc=$?; echo "$out"
            expect_eq update "$rc" "0"
            expect_eq update-clean "$(echo "$out" | grep -cE '^(W|E):')" "0"
            out=$(apt-get install -y "$pkg" 2>&1); rc=$?; echo "$out"
            expect_eq install "$rc" "0"
            expect_match install-applied "$out" "livepatch_fix: applied"
            expect_eq install-version "$(installed)" "install ok installed 1"
            expect_eq install-live "$(ls /sys/kernel/livepatch)" "livepatch_fix"
            expect_eq install-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq install-stored "$(ls /var/lib/kpatchctl/$rel | tr '\\n' ' ')" "livepatch_fix.json livepatch_fix.ko "
            """
        let boot2 = common + """
            # After the reboot: kpatchctl.service applied the installed patch again.
            journal=$(journalctl -b -u kpatchctl.service --no-pager -o cat 2>&1); echo "$journal"
            expect_match boot-unit-applied "$journal" "livepatch_fix: applied"
            expect_eq boot-unit-active "$(systemctl is-active kpatchctl.service)" "active"
            expect_eq boot-victim-loaded "$(grep -c '^kpvictim ' /proc/modules)" "1"
            expect_eq boot-live "$(ls /sys/kernel/livepatch)" "livepatch_fix"
            expect_eq boot-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq boot-check "$rc" "0"
            expect_eq boot-cves "$(kpatchctl list --cves)" "CVE-2099-0001  livepatch_fix  kpvictim: sum(1..n) misses n"
            out=$(kpatchctl status 2>&1); echo "$out"
            expect_match boot-status "$out" "livepatch_fix"
            expect_match boot-status-cve "$out" "CVE-2099-0001"

            # Upgrade to the cumulative generation 2: one patching transition, v1's module unloaded.
            before=$(dmesg | grep -c 'starting patching transition')
            use_repo repo2
            out=$(apt-get update 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-update "$rc" "0"
            # As an operator upgrades a machine: `apt-get upgrade`, not an install naming the package.
            out=$(apt-get upgrade -y 2>&1); rc=$?; echo "$out"
            expect_eq upgrade "$rc" "0"
            expect_match upgrade-by-apt-upgrade "$out" "1 upgraded"
            expect_match upgrade-applied "$out" "livepatch_fix_v2: applied"
            expect_match upgrade-says-replaced "$out" "livepatch_fix stays live until version 2 replaces it"
            expect_eq upgrade-no-revert-advice "$(echo "$out" | grep -c 'kpatchctl revert')" "0"
            expect_eq upgrade-version "$(installed)" "install ok installed 2"
            after=$(dmesg | grep -c 'starting patching transition')
            dmesg | grep livepatch
            expect_eq upgrade-one-transition "$((after - before))" "1"
            expect_eq upgrade-no-unpatching "$(dmesg | grep -c 'unpatching transition')" "0"
            expect_eq upgrade-only-v2 "$(ls /sys/kernel/livepatch)" "livepatch_fix_v2"
            expect_eq upgrade-v1-unloaded "$(grep -c '^livepatch_fix ' /proc/modules)" "0"
            expect_eq upgrade-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq upgrade-stored "$(ls /var/lib/kpatchctl/$rel | tr '\\n' ' ')" "livepatch_fix_v2.json livepatch_fix_v2.ko "
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq upgrade-check "$rc" "0"
            expect_match upgrade-cves "$(kpatchctl list --cves)" "CVE-2099-0002  livepatch_fix_v2"

            # apt-get install --reinstall of the same version: the patch stays live, no transition either way.
            before=$(dmesg | grep -c 'transition')
            out=$(apt-get install --reinstall -y "$pkg" 2>&1); rc=$?; echo "$out"
            expect_eq reinstall "$rc" "0"
            expect_match reinstall-by-apt "$out" "0 upgraded, 0 newly installed, 1 reinstalled"
            expect_match reinstall-says-live "$out" "livepatch_fix_v2 stays live: version 2 is reinstalled"
            expect_eq reinstall-no-transition "$(( $(dmesg | grep -c 'transition') - before ))" "0"
            expect_eq reinstall-still-live "$(ls /sys/kernel/livepatch)" "livepatch_fix_v2"
            expect_eq reinstall-fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq reinstall-check "$rc" "0"

            # apt-get remove: the prerm reverts, the postrm empties the store.
            out=$(apt-get remove -y "$pkg" 2>&1); rc=$?; echo "$out"
            expect_eq remove "$rc" "0"
            expect_match remove-not-installed "$(installed)" "^(|deinstall ok config-files 2|unknown ok not-installed ?)$"
            expect_eq remove-reverted "$(ls /sys/kernel/livepatch)" ""
            expect_eq remove-buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            expect_eq remove-store-empty "$(ls /var/lib/kpatchctl/$rel)" ""
            out=$(kpatchctl check 2>&1); rc=$?; echo "$out"
            expect_eq remove-check "$rc" "0"
            expect_match remove-check-says "$out" "OK: no patch installed for $rel"
            """

        // One copy of the image's disk for both boots (the second boot is the reboot).
        let disk = work.appendingPathComponent("disk.img")
        try runChecked(["cp", "--sparse=always", image.appendingPathComponent("disk.img").path, disk.path])
        let guest = (image: disk, initrd: image.appendingPathComponent("initrd.img"))
        let vm = TestVM()
        // TCG boots of a systemd system: ~150 s each here with apt at work; CI is slower.
        try "#!/bin/sh\n".appending(boot1).write(to: payload.appendingPathComponent("run.sh"), atomically: true, encoding: .utf8)
        let first = try vm.run(payload: payload, timeout: 1200, disk: guest)
        print("boot 1 (console from the runner on):\n" + Self.transcript(first))
        XCTAssertChecksPassed(first, ["kpatchctl-enabled", "kpatchctl-started", "badsig-apt-says", "badsig-no-package", "swapped-apt-says",
                                      "tampered-nothing-installed", "tampered-nothing-loaded", "install-applied", "install-live", "install-fixed"])
        guard first.passed else { return }
        try "#!/bin/sh\n".appending(boot2).write(to: payload.appendingPathComponent("run.sh"), atomically: true, encoding: .utf8)
        let second = try vm.run(payload: payload, timeout: 1200, disk: guest)
        print("boot 2 (console from the runner on):\n" + Self.transcript(second))
        XCTAssertChecksPassed(second, ["boot-unit-applied", "boot-unit-active", "boot-live", "boot-check", "boot-cves", "boot-status-cve",
                                       "upgrade-by-apt-upgrade", "upgrade-applied", "upgrade-says-replaced", "upgrade-one-transition", "upgrade-v1-unloaded",
                                       "reinstall", "reinstall-says-live", "reinstall-no-transition", "reinstall-still-live", "reinstall-check",
                                       "remove-reverted", "remove-store-empty", "remove-check"])
    }

    /// The guest's console from the runner's first line on (docs/FLEET.md quotes it).
    /// And vm-run's verdict ("VM PASS: N check(s) in Ss": the boot's wall time).
    private static func transcript(_ outcome: TestVM.Outcome) -> String {
        let lines = outcome.consoleLog.replacingOccurrences(of: "\r", with: "").split(separator: "\n", omittingEmptySubsequences: false)
        let verdict = outcome.report.split(separator: "\n").first { $0.hasPrefix("VM ") } ?? "no verdict from vm-run"
        return lines.drop { !$0.hasPrefix("KPTEST-BEGIN") }.joined(separator: "\n") + "\n" + verdict
    }
}
