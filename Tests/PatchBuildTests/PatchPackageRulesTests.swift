import XCTest
import PatchModel
@testable import PatchBuild

/// The naming and version rule of patch packages (docs/CLI.md "package"), on metadata
/// made here: what PatchRepositoryTests checks on real modules, for the cases a real
/// build would cost a minute each (a third generation, odd names, other architectures).
final class PatchPackageRulesTests: XCTestCase {
    private func meta(_ name: String, release: String = "6.1.0-56-amd64", replace: Bool = false, arch: String = "x86_64",
                      cves: [String] = [], description: String? = nil) throws -> PatchMetadata {
        PatchMetadata(arch: arch, kernelRelease: release, vermagic: "\(release) SMP mod_unload modversions ", targets: [],
                      patchName: name, createdAt: 1_796_000_000, diffSHA256: "ab", functions: [], toolVersion: "0.1.0",
                      replace: replace, operations: try PatchOperations(cves: cves, description: description))
    }
    private let maintainer = "Patch Team <patches@example.org>"

    func testSeriesGenerationNameAndVersion() throws {
        XCTAssertEqual(PatchPackage.seriesAndGeneration("livepatch_fix").0, "livepatch_fix")
        XCTAssertEqual(PatchPackage.seriesAndGeneration("livepatch_fix").1, 1)
        XCTAssertEqual(PatchPackage.seriesAndGeneration("livepatch_fix_v12").0, "livepatch_fix")
        XCTAssertEqual(PatchPackage.seriesAndGeneration("livepatch_fix_v12").1, 12)
        // Not a generation: no digits, a leading zero, nothing before the suffix, no underscore.
        for name in ["livepatch_fix_v", "livepatch_fix_v02", "_v2", "livepatchv2"] {
            XCTAssertEqual(PatchPackage.seriesAndGeneration(name).1, 1, name)
            XCTAssertEqual(PatchPackage.seriesAndGeneration(name).0, name, name)
        }
        let first = try PatchPackage(metadata: meta("livepatch_Fix"), moduleName: "livepatch_Fix", path: "a.ko", maintainer: maintainer)
        XCTAssertEqual(first.packageName, "kpatch-livepatch-fix-6.1.0-56-amd64")
        XCTAssertEqual(first.version, "1")
        let bpo = try PatchPackage(metadata: meta("livepatch_fix_v3", release: "6.12.95+deb12-amd64", replace: true),
                                   moduleName: "livepatch_fix_v3", path: "b.ko", maintainer: maintainer)
        XCTAssertEqual(bpo.packageName, "kpatch-livepatch-fix-6.12.95+deb12-amd64")
        XCTAssertEqual(bpo.version, "3")
        XCTAssertEqual(bpo.debFileName, "kpatch-livepatch-fix-6.12.95+deb12-amd64_3_amd64.deb")
        XCTAssertEqual(bpo.depends, "kpatchctl (>= 0.1.0), linux-image-6.12.95+deb12-amd64")
        XCTAssertNotNil(bpo.packageName.range(of: "^[a-z0-9][a-z0-9+.-]+$", options: .regularExpression), bpo.packageName)
    }

    func testRefusals() throws {
        XCTAssertThrowsError(try PatchPackage(metadata: meta("livepatch_fix_v2"), moduleName: "livepatch_fix_v2", path: "v2.ko",
                                              maintainer: maintainer)) { error in
            XCTAssertEqual(error as? PatchPackageError, .notCumulative(path: "v2.ko", name: "livepatch_fix_v2", generation: 2, series: "livepatch_fix"))
            XCTAssertTrue("\(error)".contains("rebuild it with --replace"), "\(error)")
        }
        XCTAssertThrowsError(try PatchPackage(metadata: meta("livepatch_fix", arch: "aarch64"), moduleName: "livepatch_fix", path: "a.ko",
                                              maintainer: maintainer)) { error in
            XCTAssertEqual(error as? PatchPackageError, .unsupportedArch(path: "a.ko", arch: "aarch64"))
        }
        for bad in ["nobody", "<a@b>", "Name <no-at>", "Name <a@b> trailing"] {
            XCTAssertThrowsError(try PatchPackage(metadata: meta("livepatch_fix"), moduleName: "livepatch_fix", path: "a.ko", maintainer: bad),
                                 bad) { XCTAssertEqual($0 as? PatchPackageError, .badMaintainer(bad)) }
        }
        XCTAssertEqual(PatchPackage.maintainerFromEnvironment(["DEBEMAIL": "p@example.org", "DEBFULLNAME": "P T"]), "P T <p@example.org>")
        XCTAssertEqual(PatchPackage.maintainerFromEnvironment(["DEBEMAIL": "P T <p@example.org>"]), "P T <p@example.org>")
        XCTAssertNil(PatchPackage.maintainerFromEnvironment(["DEBEMAIL": "p@example.org"]))
        XCTAssertNil(PatchPackage.maintainerFromEnvironment([:]))
    }

    func testControlDescriptionAndScripts() throws {
        let long = "kpvictim: sum(1..n) misses n\nThe loop in kpvictim_sum stopped one short of n, so every sum it printed was missing its last term."
        let p = try PatchPackage(metadata: meta("livepatch_fix_v2", replace: true, cves: ["CVE-2099-0001", "cve-2099-0002"], description: long),
                                 moduleName: "livepatch_fix_v2", path: "v2.ko", maintainer: maintainer)
        let control = p.control(installedSizeKiB: 260)
        XCTAssertTrue(control.contains("Description: live patch for Linux 6.1.0-56-amd64: kpvictim: sum(1..n) misses n\n"), control)
        XCTAssertTrue(control.contains(" Fixes: CVE-2099-0001, CVE-2099-0002.\n"), control)
        XCTAssertTrue(control.contains("Installed-Size: 260\n"), control)
        for line in control.split(separator: "\n") where line.hasPrefix(" ") {
            XCTAssertLessThanOrEqual(line.count, 80, "\(line)")
        }
        // A synopsis never runs past 80 columns or ends in a period.
        let wordy = try PatchPackage(metadata: meta("livepatch_fix", description: String(repeating: "word ", count: 30) + "end."),
                                     moduleName: "livepatch_fix", path: "a.ko", maintainer: maintainer)
        XCTAssertLessThanOrEqual(wordy.synopsis.count, 79)
        XCTAssertFalse(wordy.synopsis.hasSuffix("end."), wordy.synopsis)
        // upgrade leaves the patch in the kernel; remove reverts; the store entry goes on remove and upgrade.
        XCTAssertTrue(p.prerm.contains("remove|deconfigure)") && !p.prerm.contains("upgrade)"), p.prerm)
        XCTAssertTrue(p.postrm.contains("remove|purge|abort-install)"), p.postrm)
        XCTAssertTrue(p.postrm.contains("upgrade)"), p.postrm)
        XCTAssertTrue(p.postinst.contains("kpatchctl install --state-dir \"$store\" --kernel \"$release\" '/usr/lib/kpatchctl/packages/6.1.0-56-amd64/livepatch_fix_v2.ko'"), p.postinst)
        XCTAssertTrue(p.postinst.contains("kpatchctl load-installed --state-dir \"$store\""), p.postinst)
        let changelog = p.changelog(diffSHA256: "ab", date: "Mon, 30 Nov 2026 10:00:00 +0000")
        XCTAssertTrue(changelog.hasPrefix("kpatch-livepatch-fix-6.1.0-56-amd64 (2) kpatchctl; urgency=medium\n\n  * Live patch livepatch_fix_v2"), changelog)
        XCTAssertTrue(changelog.hasSuffix("\n -- Patch Team <patches@example.org>  Mon, 30 Nov 2026 10:00:00 +0000\n"), changelog)
    }
}
