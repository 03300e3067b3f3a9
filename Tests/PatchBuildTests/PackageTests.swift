import Foundation
import XCTest
import TestSupport

/// scripts/package, then the .deb as an operator gets it: its contents, the unit
/// verified by systemd, `dpkg -i` on this machine, the installed binary's version
/// and man page, and a module patch built by /usr/bin/kpatchctl from a directory
/// outside the checkout (so the template must come from /usr/share/kpatchctl).
/// The package is removed again at the end.
final class PackageTests: XCTestCase {
    func testPackageInstallsAndBuildsAPatchOutsideTheCheckout() throws {
        guard getuid() == 0 else { throw XCTSkip("dpkg -i needs root (CI runs as root)") }
        let bed = TestBed.shared
        let package = try runCommand([bed.root.appendingPathComponent("scripts/package").path, "--no-build"])
        XCTAssertEqual(package.status, 0, package.output)
        let deb = try XCTUnwrap(package.output.split(separator: "\n").last.map(String.init))
        XCTAssertTrue(deb.hasSuffix("_amd64.deb") && deb.contains("/dist/kpatchctl_"), deb)

        let contents = try runChecked(["dpkg-deb", "-c", deb])
        for path in ["./usr/bin/kpatchctl", "./usr/share/kpatchctl/kmod/kpatch-patch.c", "./usr/share/kpatchctl/kmod/Kbuild.in",
                     "./lib/systemd/system/kpatchctl.service", "./usr/share/man/man1/kpatchctl.1.gz",
                     "./usr/share/man/man1/kpatchctl-load-installed.1.gz", "./usr/share/man/man1/kpatchctl-build.1.gz",
                     "./usr/share/bash-completion/completions/kpatchctl", "./usr/share/zsh/vendor-completions/_kpatchctl",
                     "./usr/share/fish/vendor_completions.d/kpatchctl.fish"] {
            XCTAssertTrue(contents.contains(" \(path)\n") || contents.hasSuffix(" \(path)"), "\(path) missing from\n\(contents)")
        }
        let control = try runChecked(["dpkg-deb", "-f", deb, "Depends", "Recommends"])
        for dependency in ["libelf1", "libdw1", "make", "gcc", "binutils", "patch"] {
            XCTAssertTrue(control.contains(dependency), control)
        }
        XCTAssertTrue(control.contains("Recommends: linux-headers-amd64"), control)

        defer { _ = try? runCommand(["dpkg", "-r", "kpatchctl"]) }
        let install = try runCommand(["dpkg", "-i", deb])
        XCTAssertEqual(install.status, 0, install.output)
        let verify = try runCommand(["systemd-analyze", "verify", "/lib/systemd/system/kpatchctl.service"])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertFalse(verify.output.contains("kpatchctl.service"), "systemd-analyze verify complains:\n\(verify.output)")
        XCTAssertEqual(try runChecked(["/usr/bin/kpatchctl", "--version"]).trimmingCharacters(in: .whitespacesAndNewlines),
                       try runChecked([bed.releaseBinary.path, "--version"]).trimmingCharacters(in: .whitespacesAndNewlines))
        let man = try runCommand(["man", "-w", "kpatchctl"])
        XCTAssertEqual(man.status, 0, man.output)
        XCTAssertTrue(man.output.contains("/usr/share/man/man1/kpatchctl.1.gz"), man.output)
        XCTAssertEqual(try runCommand(["man", "-w", "kpatchctl-load-installed"]).status, 0)
        let size = try FileManager.default.attributesOfItem(atPath: "/usr/bin/kpatchctl")[.size] as! Int
        print("installed /usr/bin/kpatchctl: \(size) bytes (\(String(format: "%.1f", Double(size) / 1_048_576)) MiB), stripped")
        XCTAssertLessThanOrEqual(size, 25 * 1_048_576)

        // A module build with the installed binary, from a directory outside the checkout.
        let outside = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kpatchctl-pkg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let victim = outside.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        try runChecked(["make", "-s", "-C", bed.headers.path, "M=\(victim.path)", "modules"])
        let build = try runCommand(["/usr/bin/kpatchctl", "build", "fix.diff", "--module-src", ".", "--kernel", bed.kernelRelease,
                                    "--vmlinux", bed.debugVmlinux.path, "--cache", outside.appendingPathComponent("cache").path,
                                    "-o", outside.appendingPathComponent("livepatch_fix.ko").path], in: victim)
        XCTAssertEqual(build.status, 0, build.output)
        XCTAssertTrue(build.output.contains("kpvictim: kpvictim_sum"), build.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside.appendingPathComponent("livepatch_fix.ko").path))
    }
}
