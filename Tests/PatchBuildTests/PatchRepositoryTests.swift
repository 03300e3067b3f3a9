import Foundation
import XCTest
import TestSupport

/// `kpatchctl package` and scripts/publish-repo on the host, with Debian's own tools
/// as the judges: dpkg-deb reads the packages, lintian lints them, dpkg compares their
/// versions, and apt (a private configuration, nothing of the host's apt touched)
/// fetches them from the signed repository with `signed-by` and refuses a tampered
/// Packages file, a tampered InRelease, an unsigned repository and a repository signed
/// by another key. What the packages' maintainer scripts do in a kernel is
/// PatchPackageVMTests'.
final class PatchRepositoryTests: XCTestCase {
    func testPackagesPublishAndAptVerifies() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("patch-repo")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = try KbuildModule().build("repo-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let fixDiff = bed.root.appendingPathComponent("examples/kpvictim/fix.diff")
        let release = bed.kernelRelease
        func build(_ name: String, _ extra: [String]) throws -> URL {
            let (ko, result) = try KpatchctlBinary().buildKpvictimFix(name, victim: victim, in: work, extra: extra)
            XCTAssertEqual(result.status, 0, result.output)
            return ko
        }
        let (signKey, cert) = try SigningKey.make(in: work)
        let maintainer = "kpatchctl tests <tests@example.org>"
        let v1 = try build("livepatch_fix", ["--cve", "CVE-2099-0001", "--description", "kpvictim: sum(1..n) misses n\nThe loop stopped one short.",
                                             "--sign-key", signKey.path, "--sign-cert", cert.path])
        let v2 = try build("livepatch_fix_v2", ["--replace", "--cve", "CVE-2099-0001", "--cve", "CVE-2099-0002",
                                                "--description", "kpvictim: sum(1..n) misses n, cumulative", "--deb",
                                                "--maintainer", maintainer])

        let kpatchctl = KpatchctlBinary()
        // build --sign-key: the release's sign-file signed it with the kernel's hash; info names the signer.
        let info = try kpatchctl.run(["info", v1.path])
        XCTAssertTrue(info.output.contains("signer:         \(SigningKey.commonName) (key serial \(try SigningKey.serial(cert)), sha256, "), info.output)
        let unsignedInfo = try kpatchctl.run(["info", v2.path, "--json"])
        XCTAssertFalse(unsignedInfo.output.contains("\"signature\""), unsignedInfo.output)
        XCTAssertTrue(try kpatchctl.run(["info", v2.path]).output.contains("signer:         none (not signed"))
        let badSign = try kpatchctl.run(["build", fixDiff.path, "--module-src", victim.path, "--kernel", release,
                                         "--sign-key", work.appendingPathComponent("missing.pem").path, "--sign-cert", cert.path,
                                         "-o", work.appendingPathComponent("never.ko").path])
        XCTAssertNotEqual(badSign.status, 0, badSign.output)
        XCTAssertTrue(badSign.output.contains("missing.pem"), badSign.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("never.ko").path))
        // build --deb: the package beside the module.
        let besideV2 = work.appendingPathComponent("kpatch-livepatch-fix-\(release)_2_amd64.deb")
        XCTAssertTrue(FileManager.default.fileExists(atPath: besideV2.path), "build --deb wrote no \(besideV2.path)")

        let debs = work.appendingPathComponent("debs")
        let packaged = try kpatchctl.run(["package", v1.path, v2.path, "-o", debs.path, "--maintainer", maintainer, "--json"])
        XCTAssertEqual(packaged.status, 0, packaged.output)
        let package = "kpatch-livepatch-fix-\(release)"
        let deb1 = debs.appendingPathComponent("\(package)_1_amd64.deb"), deb2 = debs.appendingPathComponent("\(package)_2_amd64.deb")
        XCTAssertTrue(packaged.output.contains(deb1.path) && packaged.output.contains(deb2.path), packaged.output)

        // The fields apt and dpkg act on.
        let fields1 = try runChecked(["dpkg-deb", "-f", deb1.path, "Package", "Version", "Architecture", "Depends", "Description"])
        XCTAssertTrue(fields1.contains("Package: \(package)\n"), fields1)
        XCTAssertTrue(fields1.contains("Version: 1\n"), fields1)
        XCTAssertTrue(fields1.contains("Architecture: amd64\n"), fields1)
        XCTAssertTrue(fields1.range(of: #"Depends: kpatchctl \(>= [0-9.]+\), linux-image-"# + NSRegularExpression.escapedPattern(for: release) + "\n",
                                    options: .regularExpression) != nil, fields1)
        XCTAssertTrue(fields1.contains("Description: live patch for Linux \(release): kpvictim: sum(1..n) misses n\n"), fields1)
        XCTAssertTrue(fields1.contains(" The loop stopped one short.\n"), fields1)
        XCTAssertTrue(fields1.contains(" Fixes: CVE-2099-0001.\n"), fields1)
        let fields2 = try runChecked(["dpkg-deb", "-f", deb2.path, "Version", "Description"])
        XCTAssertTrue(fields2.contains("Version: 2\n"), fields2)
        XCTAssertTrue(fields2.contains(" Fixes: CVE-2099-0001, CVE-2099-0002.\n"), fields2)
        XCTAssertTrue(fields2.contains("generation 2 of livepatch_fix, cumulative"), fields2)
        XCTAssertEqual(try runCommand(["dpkg", "--compare-versions", "2", "gt", "1"]).status, 0)
        let contents = try runChecked(["dpkg-deb", "-c", deb2.path])
        XCTAssertTrue(contents.contains("./usr/lib/kpatchctl/packages/\(release)/livepatch_fix_v2.ko"), contents)
        // The module in the package is the one built, byte for byte.
        let unpacked = work.appendingPathComponent("unpacked")
        try runChecked(["dpkg-deb", "-x", deb2.path, unpacked.path])
        XCTAssertEqual(try Data(contentsOf: unpacked.appendingPathComponent("usr/lib/kpatchctl/packages/\(release)/livepatch_fix_v2.ko")),
                       try Data(contentsOf: v2))
        let scripts = work.appendingPathComponent("control")
        try runChecked(["dpkg-deb", "-e", deb2.path, scripts.path])
        for script in ["postinst", "prerm", "postrm"] {
            let check = try runCommand(["sh", "-n", scripts.appendingPathComponent(script).path])
            XCTAssertEqual(check.status, 0, "\(script): \(check.output)")
        }

        // Lintian, as Debian's archive runs it: no error or warning, no override needed.
        let lintian = try runCommand(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb1.path, deb2.path])
        print("lintian:\n\(lintian.output)")
        XCTAssertEqual(lintian.status, 0, lintian.output)

        // Refusals write nothing: a module that is no patch, no maintainer (a generation above 1
        // that is not cumulative: PatchPackageRulesTests).
        let refused = work.appendingPathComponent("refused")
        let plain = try kpatchctl.run(["package", victim.appendingPathComponent("kpvictim.ko").path, "-o", refused.path, "--maintainer", maintainer])
        XCTAssertEqual(plain.status, 2, plain.output)
        XCTAssertTrue(plain.output.contains("kpvictim.ko cannot be packaged"), plain.output)
        // No maintainer (no --maintainer, no DEBEMAIL): Debian wants a real address, so no default.
        let anonymous = try runCommand([bed.releaseBinary.path, "package", v1.path, "-o", refused.path],
                                       environment: ["DEBEMAIL": "", "DEBFULLNAME": ""])
        XCTAssertEqual(anonymous.status, 2, anonymous.output)
        XCTAssertTrue(anonymous.output.contains("no maintainer for the packages"), anonymous.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path), "a refused package run wrote \(refused.path)")

        // A signing key of its own, in a keyring of its own.
        let archiveKey = try ArchiveKey.make(in: work), otherKey = try ArchiveKey.make(in: work, name: "gnupg-other")
        let gnupg = archiveKey.home, key = archiveKey.fingerprint
        let repo = work.appendingPathComponent("repo")
        let publish = try runCommand([bed.script("publish-repo").path, "--repo", repo.path, "--key", key, deb1.path],
                                     environment: ["GNUPGHOME": gnupg.path])
        XCTAssertEqual(publish.status, 0, publish.output)
        let publish2 = try runCommand([bed.script("publish-repo").path, "--repo", repo.path, "--key", key, deb2.path],
                                      environment: ["GNUPGHOME": gnupg.path])
        XCTAssertEqual(publish2.status, 0, publish2.output)
        XCTAssertTrue(publish2.output.contains("\(package) 2"), publish2.output)
        // The same version with other contents: reprepro refuses it, the repository keeps the first.
        let rebuilt = work.appendingPathComponent("rebuilt")
        XCTAssertEqual(try kpatchctl.run(["package", v2.path, "-o", rebuilt.path, "--maintainer", "Someone Else <else@example.org>"]).status, 0)
        let clash = try runCommand([bed.script("publish-repo").path, "--repo", repo.path, "--key", key,
                                    rebuilt.appendingPathComponent("\(package)_2_amd64.deb").path], environment: ["GNUPGHOME": gnupg.path])
        XCTAssertNotEqual(clash.status, 0, clash.output)
        for file in ["dists/bookworm/InRelease", "dists/bookworm/Release.gpg", "dists/bookworm/main/binary-amd64/Packages",
                     "kpatchctl-archive-keyring.gpg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: repo.appendingPathComponent(file).path), "\(file) missing")
        }

        // A client: apt with a private configuration, state and cache; the repository key through signed-by.
        let client = work.appendingPathComponent("client")
        func apt(_ tool: String, _ arguments: [String], keyring: URL) throws -> CommandResult {
            for dir in ["lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d", "etc/trusted.gpg.d", "download"] {
                try FileManager.default.createDirectory(at: client.appendingPathComponent(dir), withIntermediateDirectories: true)
            }
            let status = client.appendingPathComponent("status")
            if !FileManager.default.fileExists(atPath: status.path) { FileManager.default.createFile(atPath: status.path, contents: Data()) }
            try "deb [signed-by=\(keyring.path)] file://\(repo.path) bookworm main\n"
                .write(to: client.appendingPathComponent("etc/sources.list"), atomically: true, encoding: .utf8)
            return try runCommand([tool, "-o", "Dir::Etc=\(client.path)/etc",
                                   "-o", "Dir::State::Lists=\(client.path)/lists", "-o", "Dir::Cache=\(client.path)/cache",
                                   "-o", "Dir::State::status=\(status.path)", "-o", "APT::Architecture=amd64",
                                   "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"] + arguments,
                                  in: client.appendingPathComponent("download"))
        }
        let keyring = repo.appendingPathComponent("kpatchctl-archive-keyring.gpg")
        let update = try apt("apt-get", ["update"], keyring: keyring)
        XCTAssertEqual(update.status, 0, update.output)
        XCTAssertFalse(update.output.contains("W:") || update.output.contains("E:"), update.output)
        let policy = try apt("apt-cache", ["policy", package], keyring: keyring)
        XCTAssertTrue(policy.output.contains("Candidate: 2"), policy.output)
        let download = try apt("apt-get", ["download", "\(package)=2"], keyring: keyring)
        XCTAssertEqual(download.status, 0, download.output)
        XCTAssertEqual(try Data(contentsOf: client.appendingPathComponent("download/\(package)_2_amd64.deb")), try Data(contentsOf: deb2))
        let show = try apt("apt-cache", ["show", "\(package)=2"], keyring: keyring)
        XCTAssertTrue(show.output.contains("Fixes: CVE-2099-0001, CVE-2099-0002."), show.output)

        /// apt-get update against a changed copy of the repository: it must fail and name why.
        func refusedUpdate(_ label: String, keyring: URL, change: (URL) throws -> Void, expect: String) throws {
            try? FileManager.default.removeItem(at: client.appendingPathComponent("lists"))
            let pristine = work.appendingPathComponent("repo-pristine")
            if !FileManager.default.fileExists(atPath: pristine.path) { try FileManager.default.copyItem(at: repo, to: pristine) }
            try? FileManager.default.removeItem(at: repo)
            try FileManager.default.copyItem(at: pristine, to: repo)
            try change(repo)
            let result = try apt("apt-get", ["update"], keyring: keyring)
            XCTAssertNotEqual(result.status, 0, "\(label): apt-get update accepted it:\n\(result.output)")
            XCTAssertTrue(result.output.contains(expect), "\(label): expected \(expect) in\n\(result.output)")
            let policy = try apt("apt-cache", ["policy", package], keyring: keyring)
            XCTAssertFalse(policy.output.contains("Candidate: 2") || policy.output.contains("Candidate: 1"), "\(label):\n\(policy.output)")
            try FileManager.default.removeItem(at: repo)
            try FileManager.default.copyItem(at: pristine, to: repo)
        }
        let packagesFile = "dists/bookworm/main/binary-amd64/Packages"
        try refusedUpdate("tampered Packages", keyring: keyring, change: { repo in
            // Every form of the index says version 9 now; the signed Release still has the old hashes.
            let plain = repo.appendingPathComponent(packagesFile)
            let text = try String(contentsOf: self.pristine(work, packagesFile), encoding: .utf8)
            XCTAssertTrue(text.contains("Version: 2"), text)
            try text.replacingOccurrences(of: "Version: 2", with: "Version: 9").write(to: plain, atomically: true, encoding: .utf8)
            if FileManager.default.fileExists(atPath: plain.path + ".gz") {
                try FileManager.default.removeItem(atPath: plain.path + ".gz")
                try runChecked(["gzip", "-k", "-9n", plain.path])
            }
            if FileManager.default.fileExists(atPath: plain.path + ".xz") {
                try FileManager.default.removeItem(atPath: plain.path + ".xz")
                try runChecked(["xz", "-k", plain.path])
            }
        }, expect: "Hash Sum mismatch")
        try refusedUpdate("tampered InRelease", keyring: keyring, change: { repo in
            let inRelease = repo.appendingPathComponent("dists/bookworm/InRelease")
            let text = try String(contentsOf: inRelease, encoding: .utf8)
            try text.replacingOccurrences(of: "Label: kpatchctl live patches", with: "Label: kpatchctl live patchez").write(to: inRelease, atomically: true, encoding: .utf8)
            try FileManager.default.removeItem(at: repo.appendingPathComponent("dists/bookworm/Release.gpg"))
        }, expect: "BADSIG")
        try refusedUpdate("unsigned", keyring: keyring, change: { repo in
            for file in ["InRelease", "Release.gpg"] { try FileManager.default.removeItem(at: repo.appendingPathComponent("dists/bookworm/\(file)")) }
        }, expect: "is not signed")
        let otherKeyring = work.appendingPathComponent("other-keyring.gpg")
        try Data(runChecked(["gpg", "--batch", "--export", "--armor", otherKey.fingerprint], environment: otherKey.environment).utf8)
            .write(to: work.appendingPathComponent("other.asc"))
        try runChecked(["gpg", "--batch", "--yes", "--dearmor", "-o", otherKeyring.path, work.appendingPathComponent("other.asc").path])
        try refusedUpdate("signed by another key", keyring: otherKeyring, change: { _ in }, expect: "NO_PUBKEY")
    }

    private func pristine(_ work: URL, _ path: String) -> URL {
        work.appendingPathComponent("repo-pristine").appendingPathComponent(path)
    }
}
