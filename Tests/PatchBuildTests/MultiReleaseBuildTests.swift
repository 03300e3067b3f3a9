import Foundation
import XCTest
import TestSupport

/// `build --kernels FILE`: one patch per release into the output directory, a
/// release that cannot be built reported without stopping the others, and no stale
/// module left for it. (6.1.0-57 and 6.12.95 were checked by hand, docs/STATUS.md:
/// the CI test bed holds the pinned release only.)
final class MultiReleaseBuildTests: XCTestCase {
    func testEveryReleaseIsBuiltOrNamedWithItsReason() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("multi-release")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        let missing = "6.1.0-0-nosuch-amd64"
        let kernels = work.appendingPathComponent("kernels")
        try "# the fleet\n\(bed.kernelRelease)\n\n\(missing)   # no headers here\n".write(to: kernels, atomically: true, encoding: .utf8)
        let out = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // A module of an earlier run for the release that fails now must not stay behind.
        let stale = out.appendingPathComponent("livepatch_fix-\(missing).ko")
        try Data("old".utf8).write(to: stale)
        let vmlinux = bed.debugVmlinux.path.replacingOccurrences(of: bed.kernelRelease, with: "{release}")

        let result = try KpatchctlBinary().run([
            "build", bed.root.appendingPathComponent("examples/kpvictim/fix.diff").path, "--module-src", victim.path,
            "--kernels", kernels.path, "--vmlinux", vmlinux, "--cache", work.appendingPathComponent("cache").path,
            "--name", "livepatch_fix", "--cve", "CVE-2099-0001", "-o", out.path, "--json"])
        XCTAssertEqual(result.status, 1, "one release not built: exit 1\n\(result.output)")
        let json = try XCTUnwrap(result.output.split(separator: "\n").first { $0.hasPrefix("{") })
        let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let releases = try XCTUnwrap(report?["releases"] as? [[String: Any]])
        XCTAssertEqual(releases.map { $0["release"] as? String }, [bed.kernelRelease, missing], "in the order given")
        XCTAssertEqual(releases[0]["status"] as? String, "built", "\(releases[0])")
        XCTAssertEqual(releases[0]["functions"] as? Int, 1)
        let built = out.appendingPathComponent("livepatch_fix-\(bed.kernelRelease).ko")
        XCTAssertEqual(releases[0]["output"] as? String, built.path)
        let operations = (releases[0]["result"] as? [String: Any])?["operations"] as? [String: Any]
        XCTAssertEqual(operations?["cves"] as? [String], ["CVE-2099-0001"])
        XCTAssertEqual(releases[1]["status"] as? String, "failed")
        // kpatchctl looks for the release's packages in Debian's archive, which has none.
        XCTAssertTrue((releases[1]["reason"] as? String)?.contains("does not serve linux-image-\(missing)") == true, "\(releases[1])")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path), "the stale module of the failed release is gone")

        // The module is the pinned release's, named NAME (not NAME-RELEASE), and carries the CVE.
        let info = try KpatchctlBinary().run(["info", built.path])
        XCTAssertEqual(info.status, 0, info.output)
        XCTAssertTrue(info.output.contains("module:         livepatch_fix"), info.output)
        XCTAssertTrue(info.output.contains("kernel:         \(bed.kernelRelease)"), info.output)
        XCTAssertTrue(info.output.contains("fixes:          CVE-2099-0001"), info.output)

        // The same release twice is a usage error, before anything is built.
        let twice = try KpatchctlBinary().run([
            "build", bed.root.appendingPathComponent("examples/kpvictim/fix.diff").path, "--module-src", victim.path,
            "--kernel", bed.kernelRelease, "--kernel", bed.kernelRelease, "-o", out.path])
        XCTAssertEqual(twice.status, 1, twice.output)
        XCTAssertTrue(twice.output.contains("release \(bed.kernelRelease) is given twice"), twice.output)
    }
}
