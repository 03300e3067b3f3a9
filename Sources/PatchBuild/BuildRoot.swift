import FoundationEssentials
import Glibc

/// A minimal Debian root of one release with a kernel's compiler and Kbuild's tools, made
/// once with mmdebstrap under `<store>/buildroot/<distribution>` (its own apt, never the
/// host's) and shared by every kernel of that release. Made under a lock beside it, in
/// `<dir>.new`, with the stamp written last and the directory renamed into place: an
/// interrupted creation leaves no root that looks ready.
public struct BuildRoot: Sendable {
    public let dir: URL
    public let distribution: String

    /// What Kbuild needs in the root besides the compiler. python3: modules_prepare of a
    /// source tree builds resolve_btfids, whose libbpf runs it.
    static let packages = ["gcc", "make", "libc6-dev", "libelf-dev", "bc", "bison", "flex", "libssl-dev", "kmod",
                           "dwarves", "binutils", "cpio", "xz-utils", "zstd", "patch", "perl", "python3", "ca-certificates"]
    static let stampName = ".kpatch-buildroot"

    /// The stamp's content: the release and the package list (the same as scripts/buildroot's).
    static func stamp(distribution: String, compilerPackage: String) -> String {
        "\(distribution) \(([compilerPackage] + packages).joined(separator: ","))"
    }

    /// The root of `distribution` with `compilerPackage`, made when missing or made for
    /// another package list.
    static func ensure(store: KernelPackageStore, distribution: String, compilerPackage: String,
                       note: (String) -> Void) throws -> BuildRoot {
        let fm = FileManager.default
        let root = BuildRoot(dir: store.root.appendingPathComponent("buildroot/\(distribution)"), distribution: distribution)
        let lock = try TreeLock(path: root.dir.appendingPathExtension("lock"))
        defer { lock.release() }
        let wanted = stamp(distribution: distribution, compilerPackage: compilerPackage)
        let stampFile = root.dir.appendingPathComponent(stampName)
        if fm.fileExists(atPath: stampFile.path) {
            let found = try String(contentsOf: stampFile, encoding: .utf8).trimmingCharacters(in: [" ", "\n"])
            if found == wanted { return root }
            note("the build root \(root.dir.path) was made for other packages (\(found)): making it again")
        }
        let mmdebstrap = try CommandRunner.run(["sh", "-c", "command -v mmdebstrap"])
        guard mmdebstrap.status == 0 else {
            throw BuildError.compilerUnavailable("making the \(distribution) build root needs mmdebstrap: apt-get install mmdebstrap")
        }
        let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        guard fm.fileExists(atPath: keyring) else { throw BuildError.missingInput(what: "Debian's archive keyring (apt-get install debian-archive-keyring)", path: keyring) }
        let fresh = root.dir.appendingPathExtension("new")
        if fm.fileExists(atPath: fresh.path) { try fm.removeItem(at: fresh) }
        note("making the \(distribution) build root with mmdebstrap (minbase, \(compilerPackage), make, ...): a few minutes, once")
        let start = Date()
        let sources = [("debian", distribution), ("debian", "\(distribution)-updates"), ("debian-security", "\(distribution)-security")]
            .map { "deb [signed-by=\(keyring)] http://deb.debian.org/\($0.0) \($0.1) main" }
        let excluded = ["man", "doc", "locale", "info"].map { "--dpkgopt=path-exclude=/usr/share/\($0)/*" }
        try CommandRunner.check(.prepare, ["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase",
                                           "--include=" + ([compilerPackage] + packages).joined(separator: ","),
                                           "--aptopt=Acquire::Languages \"none\""] + excluded + [distribution, fresh.path] + sources)
        try Data((wanted + "\n").utf8).write(to: fresh.appendingPathComponent(stampName))
        if fm.fileExists(atPath: root.dir.path) { try fm.removeItem(at: root.dir) }
        try fm.moveItem(at: fresh, to: root.dir)
        note("build root \(root.dir.path) made in \(Int(Date().timeIntervalSince(start))) s")
        return root
    }

    /// `argv` run chrooted in the root, in a private mount namespace (nothing leaks to the
    /// host's mounts) with /dev, /proc and each of `binds` mounted at its host path, in the
    /// current directory. The environment passes through (CPATH for the author headers).
    func command(_ argv: [String], binds: [String]) -> [String] {
        let script = #"""
            set -e
            root=$1; n=$2; shift 2; cwd=$(pwd)
            mount --rbind /dev "$root/dev"
            mount -t proc proc "$root/proc"
            while [ "$n" -gt 0 ]; do
                mkdir -p "$root$1"; mount --rbind "$1" "$root$1"; shift; n=$((n - 1))
            done
            exec chroot "$root" /usr/bin/env -C "$cwd" PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
            """#
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "kpatchctl-buildroot",
                dir.path, String(binds.count)] + binds + argv
    }

    /// Existing directories to mount, each once: one below another is already visible.
    static func mountList(_ paths: [String]) -> [String] {
        var chosen: [String] = []
        for path in Set(paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }).sorted(by: { $0.count < $1.count })
            where FileManager.default.fileExists(atPath: path) && path != "/" {
            if !chosen.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { chosen.append(path) }
        }
        return chosen.sorted()
    }
}
