import Foundation
import XCTest
import TestSupport

/// scripts/package, then the .deb as an operator gets it: its contents, `dpkg
/// --root` into a throwaway root (never this machine's own dpkg database or /usr),
/// the unit verified by systemd against that root, the installed binary's version
/// and man page, and a module patch built by the installed kpatchctl from a
/// directory outside the checkout (so the template must come from the root's
/// /usr/share/kpatchctl). Its postinst enables kpatchctl.service in that root (not on
/// this machine); `dpkg --root -r` removes it again and its postrm masks the unit. That the
/// postinst starts the unit on a running Debian system is DebianGuestVMTests'.
final class PackageTests: XCTestCase {
    func testPackageInstallsAndBuildsAPatchOutsideTheCheckout() throws {
        guard getuid() == 0 else { throw XCTSkip("dpkg --root needs root (CI runs as root)") }
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
        // Every shared library the packaged binary names (DT_NEEDED; what those need in turn
        // is their own packages' business) comes from a package Depends names.
        let packaged = outsideCopy(of: deb)
        defer { try? FileManager.default.removeItem(at: packaged.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: packaged, withIntermediateDirectories: true)
        _ = try runChecked(["dpkg-deb", "-x", deb, packaged.path])
        let packagedBinary = packaged.appendingPathComponent("usr/bin/kpatchctl").path
        let needed = try runChecked(["readelf", "-d", packagedBinary]).split(separator: "\n").compactMap { line -> String? in
            guard line.contains("(NEEDED)"), let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        XCTAssertTrue(needed.contains("libcrypto.so.3"), "\(needed)")
        var loaded: [String: String] = [:]  // soname -> the path ldd resolves it to
        for line in try runChecked(["ldd", packagedBinary]).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 3, fields[1] == "=>", fields[2].hasPrefix("/") { loaded[String(fields[0])] = String(fields[2]) }
        }
        let depends = Set(control.split(separator: "\n").first { $0.hasPrefix("Depends:") }.map {
            $0.dropFirst("Depends:".count).split(separator: ",").map { String($0.split(separator: " ").first ?? "") }
        } ?? [])
        for soname in needed where !soname.hasPrefix("ld-linux") {
            let path = try XCTUnwrap(loaded[soname], "ldd does not resolve \(soname)")
            // dpkg knows a library under the path its package shipped: /lib or /usr/lib.
            let asNamed = try runCommand(["dpkg", "-S", path])
            let owner = asNamed.status == 0
                ? asNamed.output
                : try runChecked(["dpkg", "-S", URL(fileURLWithPath: path).resolvingSymlinksInPath().path])
            let package = String(owner.prefix { $0 != ":" })
            XCTAssertTrue(depends.contains(package), "\(soname) comes from \(package), which Depends does not name: \(control)")
        }
        XCTAssertTrue(control.contains("Recommends: linux-headers-amd64"), control)

        // A throwaway root with an empty dpkg database: the host's packages and /usr stay as they are.
        let outside = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kpatchctl-pkg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        let target = outside.appendingPathComponent("root")
        for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
            try FileManager.default.createDirectory(at: target.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: target.appendingPathComponent(file).path, contents: Data()))
        }
        // nil when the host has no /usr/bin/kpatchctl (the usual case).
        func hostBinaryDate() throws -> Date? {
            guard FileManager.default.fileExists(atPath: "/usr/bin/kpatchctl") else { return nil }
            return try FileManager.default.attributesOfItem(atPath: "/usr/bin/kpatchctl")[.modificationDate] as? Date
        }
        let hostBinary = try hostBinaryDate()
        let hostStatus = try Data(contentsOf: URL(fileURLWithPath: "/var/lib/dpkg/status"))
        // Its dependencies (libc6, make, gcc, ...) are the host's, not in the empty database. The
        // root has no shell to chroot into: the maintainer scripts run outside it with DPKG_ROOT
        // set (as for a dpkg --root bootstrap), so deb-systemd-helper enables the unit in the root
        // and nothing is started on this machine (the scripts' DPKG_ROOT guard).
        let hostUnitLink = "/etc/systemd/system/sysinit.target.wants/kpatchctl.service"
        let hostHadLink = FileManager.default.fileExists(atPath: hostUnitLink)
        let install = try runCommand(["dpkg", "--root=\(target.path)", "--force-depends", "--force-script-chrootless", "-i", deb])
        XCTAssertEqual(install.status, 0, install.output)
        let status = try runChecked(["dpkg-query", "--admindir=\(target.path)/var/lib/dpkg", "-W", "-f=${Status}", "kpatchctl"])
        XCTAssertEqual(status, "install ok installed")
        // The postinst enabled kpatchctl.service in the root (WantedBy=sysinit.target), not on the host.
        let link = target.appendingPathComponent("etc/systemd/system/sysinit.target.wants/kpatchctl.service")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link.path), "/lib/systemd/system/kpatchctl.service")
        XCTAssertEqual(FileManager.default.fileExists(atPath: hostUnitLink), hostHadLink, "the postinst enabled the unit on the host")
        let binary = target.appendingPathComponent("usr/bin/kpatchctl")
        let unit = target.appendingPathComponent("lib/systemd/system/kpatchctl.service")
        // --man=no: systemd would look the unit's Documentation= pages up on the host; `man -M` below checks them in the root.
        let verify = try runCommand(["systemd-analyze", "verify", "--man=no", "--root=\(target.path)", "/lib/systemd/system/kpatchctl.service"])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertFalse(verify.output.contains("kpatchctl.service"), "systemd-analyze verify complains:\n\(verify.output)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: unit.path))
        XCTAssertEqual(try runChecked([binary.path, "--version"]).trimmingCharacters(in: .whitespacesAndNewlines),
                       try runChecked([bed.releaseBinary.path, "--version"]).trimmingCharacters(in: .whitespacesAndNewlines))
        let manDir = target.appendingPathComponent("usr/share/man").path
        let man = try runCommand(["man", "-M", manDir, "-w", "kpatchctl"])
        XCTAssertEqual(man.status, 0, man.output)
        XCTAssertTrue(man.output.contains("\(manDir)/man1/kpatchctl.1.gz"), man.output)
        let loadInstalledMan = try runCommand(["man", "-M", manDir, "-w", "kpatchctl-load-installed"])
        XCTAssertEqual(loadInstalledMan.status, 0, loadInstalledMan.output)
        let size = try FileManager.default.attributesOfItem(atPath: binary.path)[.size] as! Int
        print("installed /usr/bin/kpatchctl: \(size) bytes (\(String(format: "%.1f", Double(size) / 1_048_576)) MiB), stripped")
        XCTAssertLessThanOrEqual(size, 25 * 1_048_576)
        let victim = outside.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        try runChecked(["make", "-s", "-C", bed.headers.path, "M=\(victim.path)", "modules"])
        let build = try runCommand([binary.path, "build", "fix.diff", "--module-src", ".", "--kernel", bed.kernelRelease,
                                    "--vmlinux", bed.debugVmlinux.path, "--cache", outside.appendingPathComponent("cache").path,
                                    "-o", outside.appendingPathComponent("livepatch_fix.ko").path], in: victim)
        XCTAssertEqual(build.status, 0, build.output)
        XCTAssertTrue(build.output.contains("kpvictim: kpvictim_sum"), build.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside.appendingPathComponent("livepatch_fix.ko").path))

        // Removed from the throwaway root; the host's dpkg database and /usr/bin were never touched.
        let remove = try runCommand(["dpkg", "--root=\(target.path)", "--force-script-chrootless", "-r", "kpatchctl"])
        XCTAssertEqual(remove.status, 0, remove.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: binary.path))
        // postrm remove masked the unit in the root (its file is gone; purge would forget it).
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target.appendingPathComponent("etc/systemd/system/kpatchctl.service").path),
                       "/dev/null")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "/var/lib/dpkg/status")), hostStatus, "the host's dpkg database changed")
        XCTAssertEqual(try hostBinaryDate(), hostBinary, "the host's /usr/bin/kpatchctl changed")
    }

    /// A fresh directory outside the checkout to unpack the .deb into.
    private func outsideCopy(of deb: String) -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kpatchctl-deb-\(UUID().uuidString)/root")
    }
}
