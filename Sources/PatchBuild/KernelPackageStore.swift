import FoundationEssentials

/// Debian's packages of kernel releases, fetched from the archive through a private apt
/// configuration and unpacked, never installed: the host's apt sources, lists, /usr/src and
/// /boot are never touched. The layout is the test bed's (scripts/lib.sh):
///
///     <root>/apt/<suite>/                 sources.list, lists, cache (apt -o Dir::...)
///     <root>/downloads/                   the .debs (the -dbg one is deleted once extracted)
///     <root>/kernel/<release>/image       linux-image-<release>: boot/vmlinuz, modules
///     <root>/kernel/<release>/headers     linux-headers-<release>, its -common, linux-kbuild
///     <root>/kernel/<release>/dbg         vmlinux-<release> (and named debug modules) of -dbg
///     <root>/kernel/<release>/source      linux-source-<major.minor>'s tarball
///     <root>/buildroot/<distribution>     BuildRoot
///
/// Each part is unpacked into `<part>.new` and renamed into place when complete, under a
/// lock per release, so an interrupted fetch is redone, never used half-made.
public struct KernelPackageStore: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `$KPATCHCTL_PACKAGES`, else the build cache's root.
    public static func defaultRoot(cache: BuildCache) -> URL {
        ProcessInfo.processInfo.environment["KPATCHCTL_PACKAGES"].map { URL(fileURLWithPath: $0) } ?? cache.root
    }

    public enum Part: String, CaseIterable, Sendable {
        case image, headers, debug = "dbg", source
    }

    public func kernelDir(_ release: String) -> URL { root.appendingPathComponent("kernel/\(release)") }
    public func headers(_ release: String) -> URL {
        kernelDir(release).appendingPathComponent("headers/usr/src/linux-headers-\(release)")
    }
    public func debugVmlinux(_ release: String) -> URL { kernelDir(release).appendingPathComponent("dbg/vmlinux-\(release)") }
    public func debugModulesDir(_ release: String) -> URL { kernelDir(release).appendingPathComponent("dbg/lib/modules/\(release)") }
    /// Debian 13's packages ship modules under /usr/lib (merged /usr).
    public func modulesDir(_ release: String) -> URL {
        let image = kernelDir(release).appendingPathComponent("image")
        let merged = image.appendingPathComponent("usr/lib/modules/\(release)")
        return FileManager.default.fileExists(atPath: merged.path) ? merged : image.appendingPathComponent("lib/modules/\(release)")
    }
    public func sourceTarball(_ kernel: DebianKernelRelease) -> URL {
        kernelDir(kernel.release).appendingPathComponent("source/usr/src/linux-source-\(kernel.majorMinor).tar.xz")
    }

    /// Whether `part` of the release is unpacked and complete.
    public func has(_ part: Part, _ kernel: DebianKernelRelease) -> Bool {
        let fm = FileManager.default, dir = kernelDir(kernel.release)
        switch part {
        case .image: return fm.fileExists(atPath: dir.appendingPathComponent("image/boot/vmlinuz-\(kernel.release)").path)
        case .headers: return fm.fileExists(atPath: dir.appendingPathComponent("headers/.complete").path)
        case .debug: return fm.fileExists(atPath: debugVmlinux(kernel.release).path)
        case .source: return fm.fileExists(atPath: sourceTarball(kernel).path)
        }
    }

    /// Fetches and unpacks each of `parts` the store does not have yet. `version` pins the
    /// package version (scripts/target-kernel*.env); without it the archive's is taken.
    /// `debugModules` (paths below lib/modules/<release>, e.g. kernel/fs/binfmt_misc.ko)
    /// are kept from -dbg beside the vmlinux.
    public func fetch(_ kernel: DebianKernelRelease, version: String? = nil, parts: Set<Part>,
                      debugModules: [String] = [], note: (String) -> Void) throws {
        let missing = Part.allCases.filter { parts.contains($0) && !has($0, kernel) }
        guard !missing.isEmpty else { return }
        let lock = try TreeLock(path: root.appendingPathComponent("kernel/\(kernel.release).lock"))
        defer { lock.release() }
        let apt = PrivateApt(dir: root.appendingPathComponent("apt/\(kernel.suite)"), suite: kernel.suite,
                             distribution: kernel.distribution)
        try apt.configure(note: note)
        let version = try apt.version(of: kernel.imagePackage, pinned: version, release: kernel.release, note: note)
        let downloads = root.appendingPathComponent("downloads")
        for part in missing where !has(part, kernel) {
            let dir = kernelDir(kernel.release)
            switch part {
            case .image:
                try unpack([kernel.imagePackage], version: version, apt: apt, downloads: downloads,
                           into: dir.appendingPathComponent("image"), note: note)
            case .headers:
                let dependencies = try apt.dependencies(of: kernel.headersPackage, version: version)
                    .filter { $0.hasPrefix("linux-headers-") || $0.hasPrefix("linux-kbuild-") }
                let packages = [kernel.headersPackage] + dependencies
                try unpack(packages, version: version, apt: apt, downloads: downloads,
                           into: dir.appendingPathComponent("headers"), note: note) { staged in
                    try Self.pointAtCommonHeaders(staged.appendingPathComponent("usr/src/linux-headers-\(kernel.release)"))
                    try Data((packages.joined(separator: "\n") + "\n").utf8).write(to: staged.appendingPathComponent(".complete"))
                }
            case .debug:
                try extractDebug(kernel, version: version, apt: apt, downloads: downloads, modules: debugModules, note: note)
            case .source:
                try unpack([kernel.sourcePackage], version: version, apt: apt, downloads: downloads,
                           into: dir.appendingPathComponent("source"), note: note)
                guard has(.source, kernel) else {
                    throw BuildError.missingInput(what: "\(kernel.sourcePackage)=\(version) did not give the source tarball", path: sourceTarball(kernel).path)
                }
            }
        }
    }

    /// Unpacks `packages` into `<dest>.new`, lets `finish` complete it, renames it to `dest`.
    private func unpack(_ packages: [String], version: String, apt: PrivateApt, downloads: URL, into dest: URL,
                        note: (String) -> Void, finish: (URL) throws -> Void = { _ in }) throws {
        let fm = FileManager.default
        let staged = dest.appendingPathExtension("new")
        if fm.fileExists(atPath: staged.path) { try fm.removeItem(at: staged) }
        try fm.createDirectory(at: staged, withIntermediateDirectories: true)
        for package in packages {
            let deb = try apt.download(package, version: version, into: downloads, note: note)
            note("unpacking \(deb.lastPathComponent)")
            try CommandRunner.check(.prepare, ["dpkg-deb", "-x", deb.path, staged.path])
        }
        try finish(staged)
        if fm.fileExists(atPath: dest.path) { try fm.removeItem(at: dest) }
        try fm.moveItem(at: staged, to: dest)
    }

    /// Only the debug vmlinux (and `modules`) are kept of the ~1 GB -dbg package, which is deleted.
    private func extractDebug(_ kernel: DebianKernelRelease, version: String, apt: PrivateApt, downloads: URL,
                              modules: [String], note: (String) -> Void) throws {
        let fm = FileManager.default
        let dest = kernelDir(kernel.release).appendingPathComponent("dbg")
        let staged = dest.appendingPathExtension("new")
        if fm.fileExists(atPath: staged.path) { try fm.removeItem(at: staged) }
        try fm.createDirectory(at: staged, withIntermediateDirectories: true)
        let deb = try apt.download(kernel.debugPackage, version: version, into: downloads, note: note)
        note("extracting the debug vmlinux\(modules.isEmpty ? "" : " and \(modules.count) debug module(s)") from \(deb.lastPathComponent)")
        let start = Date()
        let members = ["./usr/lib/debug/boot/vmlinux-\(kernel.release)"] + modules.map { "./usr/lib/debug/lib/modules/\(kernel.release)/\($0)" }
        // tar stops once it has every member (--occurrence): the vmlinux is the archive's
        // eleventh entry, so it alone costs ~9 s of xz instead of ~60 s for the whole 5.7 GB
        // (6.1). dpkg-deb then dies of SIGPIPE (its complaint is dropped; a broken package fails
        // tar): tar's status decides, and a missing member fails below.
        try CommandRunner.check(.prepare, ["bash", "-c", #"deb=$1 dir=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -x -C "$dir" --strip-components=4 --occurrence "$@"; exit ${PIPESTATUS[1]}"#,
                                           "extract", deb.path, staged.path] + members)
        for member in members {
            let path = staged.appendingPathComponent(member.split(separator: "/").dropFirst(4).joined(separator: "/"))
            guard fm.fileExists(atPath: path.path) else {
                throw BuildError.missingInput(what: "\(member) in \(deb.lastPathComponent)", path: path.path)
            }
        }
        try fm.moveItem(at: staged.appendingPathComponent("boot/vmlinux-\(kernel.release)"),
                        to: staged.appendingPathComponent("vmlinux-\(kernel.release)"))
        try fm.removeItem(at: staged.appendingPathComponent("boot"))
        try fm.removeItem(at: deb)
        // Only what is missing was fetched: keep debug modules an earlier fetch extracted.
        if fm.fileExists(atPath: dest.path) {
            try CommandRunner.check(.prepare, ["cp", "-an", dest.path + "/.", staged.path + "/"])
            try fm.removeItem(at: dest)
        }
        try fm.moveItem(at: staged, to: dest)
        note("debug vmlinux extracted in \(Int(Date().timeIntervalSince(start))) s")
    }

    /// Debian's flavour Makefile includes `/usr/src/linux-headers-<abi>-common/Makefile` by
    /// its absolute path: pointed at the -common unpacked beside it instead.
    static func pointAtCommonHeaders(_ headers: URL) throws {
        let makefile = headers.appendingPathComponent("Makefile")
        guard FileManager.default.fileExists(atPath: makefile.path) else {
            throw BuildError.missingInput(what: "the headers packages' Makefile", path: makefile.path)
        }
        let text = try String(contentsOf: makefile, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("include /usr/src/linux-headers-"), line.hasSuffix("-common/Makefile") else { return String(line) }
            let common = line.dropFirst("include /usr/src/".count).dropLast("/Makefile".count)
            return "include $(dir $(lastword $(MAKEFILE_LIST)))../\(common)/Makefile"
        }
        try lines.joined(separator: "\n").write(to: makefile, atomically: true, encoding: .utf8)
    }
}
