import XCTest
import TestSupport
@testable import PatchBuild

/// Which archive suite serves a release: the Swift mapping (build and fetch-kernel use it)
/// and scripts/lib.sh's copy for the shell must agree on every case.
final class DebianKernelReleaseTests: XCTestCase {
    /// release, package version (nil: none given), suite (nil: unknown).
    static let cases: [(String, String?, String?)] = [
        ("6.1.0-56-amd64", nil, "bookworm"),
        ("6.1.0-56-amd64", "6.1.192-2", "bookworm"),
        ("6.1.0-56-cloud-amd64", nil, "bookworm"),
        ("6.12.117+deb13-amd64", nil, "trixie"),
        ("6.12.117+deb13-amd64", "6.12.117-1", "trixie"),
        ("6.12.117+deb13-cloud-amd64", nil, "trixie"),
        ("6.12.95+deb12-amd64", nil, "bookworm-backports"),
        ("6.12.95+deb12-amd64", "6.12.95-1~bpo12+1", "bookworm-backports"),
        ("6.12.95+deb12-cloud-amd64", nil, "bookworm-backports"),
        ("6.16.3+deb13-amd64", "6.16.3-1~bpo13+1", "trixie-backports"),
        ("5.10.0-30-amd64", nil, nil),          // bullseye: not fetched
        ("6.12.117+deb13-arm64", nil, nil),     // amd64 only
        ("6.8.0-45-generic", nil, nil),         // not Debian's
        ("garbage", nil, nil),
    ]

    func testTheSuiteFollowsFromTheRelease() throws {
        for (release, version, suite) in Self.cases {
            XCTAssertEqual(DebianKernelRelease(release, version: version)?.suite, suite, "\(release) \(version ?? "")")
        }
        let trixie = try DebianKernelRelease.parse("6.12.117+deb13-cloud-amd64")
        XCTAssertEqual(trixie.distribution, "trixie")
        XCTAssertEqual(trixie.sourcePackage, "linux-source-6.12")
        XCTAssertEqual(trixie.debugPackage, "linux-image-6.12.117+deb13-cloud-amd64-dbg")
        XCTAssertEqual(try DebianKernelRelease.parse("6.12.95+deb12-amd64").distribution, "bookworm")
        XCTAssertThrowsError(try DebianKernelRelease.parse("5.10.0-30-amd64")) { error in
            XCTAssertTrue("\(error)".contains("5.10.0-30-amd64 is no Debian amd64 release"), "\(error)")
        }
    }

    /// scripts/lib.sh's kpatch_kernel_suite, run by bash, gives the same answers.
    func testTheShellCopyAgrees() throws {
        let lib = TestBed.shared.script("lib.sh").path
        var script = ". \"$1\"\n"
        for (release, version, _) in Self.cases {
            script += "kpatch_kernel_suite '\(release)' '\(version ?? "")' || echo unknown\n"
        }
        let output = try runChecked(["bash", "-c", script, "check", lib]).split(separator: "\n").map(String.init)
        XCTAssertEqual(output, Self.cases.map { $0.2 ?? "unknown" })
    }
}
