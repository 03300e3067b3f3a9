import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// `kpatchctl check`'s verdict and `list --cves` from the store and the livepatch
/// state (the decision only; the VM boot of InstallVMTests runs them on the kernel).
final class InstalledPatchCheckTests: XCTestCase {
    let release = "6.1.0-56-amd64"

    private func installed(_ name: String, _ sequence: Int, cumulative: Bool = false, cves: [String] = []) throws -> InstalledPatch {
        let meta = PatchMetadata(arch: "x86_64", kernelRelease: release, vermagic: "", targets: [], patchName: name,
                                 createdAt: 0, diffSHA256: "", functions: [], toolVersion: "t", replace: cumulative,
                                 operations: try PatchOperations(cves: cves, description: nil))
        return InstalledPatch(name: name, release: release, sequence: sequence, installedAt: 0, installedFrom: "", metadata: meta)
    }

    private func loaded(_ name: String, enabled: Bool = true, transition: Bool = false) -> LivepatchPatch {
        LivepatchPatch(name: name, enabled: enabled, transition: transition, objects: [])
    }

    private func check(_ installed: [InstalledPatch], _ loaded: [LivepatchPatch]) -> InstalledPatchCheck {
        InstalledPatchCheck.evaluate(release: release, stateDir: "/var/lib/kpatchctl", installed: installed, loaded: loaded)
    }

    func testEveryInstalledPatchLiveIsLive() throws {
        let result = check([try installed("a", 1, cves: ["CVE-2024-1086"]), try installed("b", 2)], [loaded("a"), loaded("b"), loaded("hand")])
        XCTAssertEqual(result.verdict, .live)
        XCTAssertEqual(result.patches.map(\.state), [.live, .live])
        XCTAssertEqual(result.patches[0].cves, ["CVE-2024-1086"])
        XCTAssertEqual(result.notInstalled, ["hand"])
        XCTAssertEqual(check([], []).verdict, .live, "nothing installed: nothing missing")
    }

    func testMissingOrDisabledOutranksInTransition() throws {
        let a = try installed("a", 1), b = try installed("b", 2)
        var result = check([a, b], [loaded("a", transition: true)])
        XCTAssertEqual(result.verdict, .notLoaded)
        XCTAssertEqual(result.patches.map(\.state), [.inTransition, .notLoaded])
        XCTAssertTrue(result.patches[1].reason?.contains("kpatchctl load-installed") == true)
        result = check([a, b], [loaded("a", transition: true), loaded("b")])
        XCTAssertEqual(result.verdict, .inTransition)
        result = check([a], [loaded("a", enabled: false)])
        XCTAssertEqual(result.verdict, .notLoaded)
        XCTAssertEqual(result.patches.map(\.state), [.disabled])
    }

    func testPatchesACumulativeOneReplacedAreNotMissing() throws {
        let result = check([try installed("v1", 1), try installed("v2", 2, cumulative: true)], [loaded("v2")])
        XCTAssertEqual(result.verdict, .live)
        XCTAssertEqual(result.patches.map(\.state), [.superseded, .live])
    }

    func testFixedCVEsCountOnlyFinishedEnabledPatches() throws {
        let ops = try PatchOperations(cves: ["CVE-2024-1086", "CVE-2023-0179"], description: "nf_tables fix\ndetails")
        let applied = [
            AppliedPatch(name: "a", appliedAt: 0, cumulative: false, replaced: [], states: [], operations: ops),
            AppliedPatch(name: "b", appliedAt: 0, cumulative: false, replaced: [], states: [],
                         operations: try PatchOperations(cves: ["CVE-2022-0001"], description: nil)),
            AppliedPatch(name: "c", appliedAt: 0, cumulative: false, replaced: [], states: []),
        ]
        let fixed = FixedCVEs.collect(patches: [loaded("a"), loaded("b", transition: true), loaded("c")], applied: applied)
        XCTAssertEqual(fixed.cves.map(\.cve), ["CVE-2023-0179", "CVE-2024-1086"])
        XCTAssertEqual(fixed.cves.map(\.patch), ["a", "a"])
        XCTAssertEqual(fixed.cves.first?.description, "nf_tables fix")
        XCTAssertEqual(fixed.pending.map(\.patch), ["b"])
        XCTAssertEqual(fixed.pending.first?.why, "its transition is still running")
    }

    func testPrometheusCarriesTheCVEsAsLabels() throws {
        var applied = AppliedPatch(name: "livepatch_fix", appliedAt: 0, cumulative: false, replaced: [], states: [])
        applied.operations = try PatchOperations(cves: ["CVE-2024-1086", "CVE-2023-0179"], description: "say \"hi\"\nmore")
        var patch = PatchStatus(name: "livepatch_fix", enabled: true, transition: false, objects: [], running: nil)
        patch.applied = applied
        let text = PrometheusTextfile.render(StatusReport(patches: [patch], lock: nil, lastTransition: nil), installedNotLoaded: 0)
        let lines = Set(text.split(separator: "\n").map(String.init))
        XCTAssertTrue(lines.contains(#"kpatchctl_patch_info{patch="livepatch_fix",cves="CVE-2024-1086,CVE-2023-0179",description="say \"hi\""} 1"#), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_cve_fixed{cve="CVE-2024-1086",patch="livepatch_fix"} 1"#), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_cve_fixed{cve="CVE-2023-0179",patch="livepatch_fix"} 1"#), text)
    }
}
