import FoundationEssentials
import Glibc
import PatchModel

/// One .deb written by `kpatchctl package`.
public struct PatchPackageResult: Codable, Sendable {
    public let module: String
    public let patch: String
    public let release: String
    public let package: String
    public let version: String
    public let cumulative: Bool
    public let cves: [String]
    public let deb: String
}

/// Writes the .deb of a patch module with dpkg-deb: the module under
/// /usr/lib/kpatchctl/packages/RELEASE/, the maintainer scripts of `PatchPackage`,
/// md5sums and the copyright file Debian policy asks for.
public struct PatchPackager {
    public let outputDirectory: URL
    public let maintainer: String

    /// `maintainer` nil: from DEBFULLNAME/DEBEMAIL, else refused.
    public init(outputDirectory: URL, maintainer: String?) throws {
        self.outputDirectory = outputDirectory
        guard let chosen = maintainer ?? PatchPackage.maintainerFromEnvironment(ProcessInfo.processInfo.environment) else {
            throw PatchPackageError.noMaintainer
        }
        self.maintainer = chosen
    }

    /// Reads and checks every module first, so a bad one among several writes nothing.
    public func plan(modules paths: [String]) throws -> [(path: String, package: PatchPackage, diffSHA256: String, createdAt: UInt64)] {
        var planned: [(path: String, package: PatchPackage, diffSHA256: String, createdAt: UInt64)] = []
        for path in paths {
            let module: KernelModuleFile, meta: PatchMetadata
            do {
                module = try KernelModuleFile(path: path)
                meta = try module.patchMetadata()
            } catch {
                throw PatchPackageError.notAPatch(path: path, reason: "\(error)")
            }
            guard module.isLivepatch, let name = module.name else {
                throw PatchPackageError.notAPatch(path: path, reason: "no livepatch=Y and name= in its .modinfo")
            }
            let package = try PatchPackage(metadata: meta, moduleName: name, path: path, maintainer: maintainer)
            // Two generations of a series are two files; the same generation twice would overwrite one.
            if let other = planned.first(where: { $0.package.debFileName == package.debFileName }) {
                throw PatchPackageError.samePackage(file: package.debFileName, first: other.path, second: path)
            }
            planned.append((path, package, meta.diffSHA256, meta.createdAt))
        }
        return planned
    }

    public func write(modules paths: [String]) throws -> [PatchPackageResult] {
        try plan(modules: paths).map { try write($0.package, module: $0.path, diffSHA256: $0.diffSHA256, createdAt: $0.createdAt) }
    }

    func write(_ package: PatchPackage, module: String, diffSHA256: String, createdAt: UInt64) throws -> PatchPackageResult {
        let fm = FileManager.default
        let stage = fm.temporaryDirectory.appendingPathComponent("kpatchctl-package-\(getpid())-\(package.packageName)")
        if fm.fileExists(atPath: stage.path) { try fm.removeItem(at: stage) }
        defer { try? fm.removeItem(at: stage) } // a leftover staging directory in /tmp is harmless
        let root = stage.appendingPathComponent("root")
        let control = root.appendingPathComponent("DEBIAN")
        let doc = root.appendingPathComponent("usr/share/doc/\(package.packageName)")
        let moduleTarget = root.appendingPathComponent(String(package.moduleFile.dropFirst()))
        for dir in [control, doc, moduleTarget.deletingLastPathComponent()] {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        try fm.copyItem(at: URL(fileURLWithPath: module), to: moduleTarget)
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: moduleTarget.path)
        // The changelog's date is the build's (metadata createdAt), in RFC 2822 as Debian wants it.
        let date = try tool(["date", "-u", "-R", "-d", "@\(createdAt)"]).output.split(separator: "\n").first.map(String.init) ?? ""
        let year = date.split(separator: " ").dropFirst(3).first.map(String.init) ?? ""
        try write(copyright(package, year: year), to: doc.appendingPathComponent("copyright"), mode: 0o644)
        try write(package.changelog(diffSHA256: diffSHA256, date: date), to: doc.appendingPathComponent("changelog"), mode: 0o644)
        _ = try tool(["gzip", "-9n", doc.appendingPathComponent("changelog").path])

        let docFiles = ["copyright", "changelog.gz"].map { "usr/share/doc/\(package.packageName)/\($0)" }
        let sums = try tool(["md5sum", String(package.moduleFile.dropFirst())] + docFiles, in: root)
        try write(sums.output, to: control.appendingPathComponent("md5sums"), mode: 0o644)
        let size = try ([package.moduleFile] + docFiles.map { "/" + $0 }).reduce(0) { total, file in
            try total + fileSize(root.path + file)
        }
        try write(package.control(installedSizeKiB: (size + 1023) / 1024), to: control.appendingPathComponent("control"), mode: 0o644)
        try write(package.postinst, to: control.appendingPathComponent("postinst"), mode: 0o755)
        try write(package.prerm, to: control.appendingPathComponent("prerm"), mode: 0o755)
        try write(package.postrm, to: control.appendingPathComponent("postrm"), mode: 0o755)

        try fm.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let deb = outputDirectory.appendingPathComponent(package.debFileName)
        _ = try tool(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root.path, deb.path])
        return PatchPackageResult(module: module, patch: package.patchName, release: package.release, package: package.packageName,
                                  version: package.version, cumulative: package.cumulative, cves: package.cves, deb: deb.path)
    }

    private func tool(_ argv: [String], in dir: URL? = nil) throws -> CommandRunner.Result {
        let result = try CommandRunner.run(argv, in: dir)
        guard result.status == 0 else {
            throw PatchPackageError.tool(command: argv.joined(separator: " "), status: result.status, output: result.output)
        }
        return result
    }

    private func fileSize(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw PatchPackageError.tool(command: "stat \(path)", status: errno, output: String(cString: strerror(errno)))
        }
        return Int(info.st_size)
    }

    private func write(_ text: String, to url: URL, mode: Int) throws {
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    /// The patch module is built from the kernel's GPL-2 sources and kpatchctl's template (MODULE_LICENSE("GPL")).
    private func copyright(_ package: PatchPackage, year: String) -> String {
        """
        Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
        Upstream-Name: \(package.patchName)
        Comment: A live patch module for Linux \(package.release), built by kpatchctl from a
         source diff against the kernel and packaged by kpatchctl package.

        Files: *
        Copyright: 1991-\(year) The Linux kernel authors, and the authors of the patch
        License: GPL-2

        License: GPL-2
         On Debian systems, the complete text of the GNU General Public License
         version 2 can be found in `/usr/share/common-licenses/GPL-2'.

        """
    }
}
