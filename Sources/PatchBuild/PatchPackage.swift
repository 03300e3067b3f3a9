import FoundationEssentials
import PatchModel

/// Why `kpatchctl package` refused a module. No .deb was written.
public enum PatchPackageError: Error, CustomStringConvertible, Equatable {
    case notAPatch(path: String, reason: String)
    case unsupportedArch(path: String, arch: String)
    case notCumulative(path: String, name: String, generation: Int, series: String)
    case badMaintainer(String)
    case noMaintainer
    case samePackage(file: String, first: String, second: String)
    case tool(command: String, status: Int32, output: String)

    public var description: String {
        switch self {
        case .notAPatch(let path, let reason):
            return "\(path) cannot be packaged: \(reason); build it with kpatchctl build. No package was written"
        case .unsupportedArch(let path, let arch):
            return "\(path) targets \(arch): kpatchctl packages patches for x86_64 (Debian amd64) only. No package was written"
        case .notCumulative(let path, let name, let generation, let series):
            return "\(path): \(name) is generation \(generation) of \(series), so its package upgrades generation "
                + "\(generation - 1) in place, but it is not cumulative: rebuild it with --replace (it must carry every "
                + "fix of the series), or give it a name of its own without a _v<N> suffix. No package was written"
        case .badMaintainer(let value):
            return "--maintainer \"\(value)\" is not \"Full Name <address>\". No package was written"
        case .noMaintainer:
            return "no maintainer for the packages: give --maintainer \"Full Name <address>\" (or set DEBFULLNAME and DEBEMAIL). No package was written"
        case .samePackage(let file, let first, let second):
            return "\(first) and \(second) would both be \(file) (one patch name, one release): package them one at a time. No package was written"
        case .tool(let command, let status, let output):
            return "\(command) failed (exit \(status)): \(output.split(separator: "\n").suffix(5).joined(separator: "\n"))"
        }
    }
}

/// The Debian package of one patch module for one release (docs/FLEET.md "Patch packages").
/// Pure: names, version, control file and maintainer scripts; `PatchPackager` writes them.
///
/// Naming and version rule. A patch *series* is the patch name without a trailing `_v<N>`;
/// its *generation* is that N (1 without a suffix). The package is
/// `kpatch-<series>-<release>` (lower case, `_` as `-`) and its Version is the generation.
/// `livepatch_fix` is version 1 of `kpatch-livepatch-fix-6.1.0-56-amd64`; the cumulative
/// `livepatch_fix_v2` (--replace) is version 2 of the same package, so apt upgrades the
/// one to the other, and the kernel replaces the first with the second in one transition.
/// The kernel cannot hold two modules of one name, so each generation needs its own name:
/// the suffix is where the version comes from. A generation above 1 must be cumulative.
public struct PatchPackage: Equatable, Sendable {
    public static let storeRoot = "/var/lib/kpatchctl"
    /// Where the package puts the module; the postinst copies it into the install store.
    public static let shippedRoot = "/usr/lib/kpatchctl/packages"
    /// The Maintainer field as Debian's tools take it: `$DEBFULLNAME <$DEBEMAIL>` (or a full
    /// `Name <address>` in $DEBEMAIL). nil: not set, so `--maintainer` is needed.
    public static func maintainerFromEnvironment(_ environment: [String: String]) -> String? {
        guard let email = environment["DEBEMAIL"], !email.isEmpty else { return nil }
        if email.contains("<") { return email }
        guard let name = environment["DEBFULLNAME"], !name.isEmpty else { return nil }
        return "\(name) <\(email)>"
    }

    public let patchName: String
    public let release: String
    public let series: String
    public let generation: Int
    public let cumulative: Bool
    public let cves: [String]
    public let summary: String?
    public let details: [String]
    public let toolVersion: String
    public let maintainer: String

    public init(metadata meta: PatchMetadata, moduleName: String, path: String, maintainer: String) throws {
        guard meta.arch == "x86_64" else { throw PatchPackageError.unsupportedArch(path: path, arch: meta.arch) }
        guard moduleName == meta.patchName else {
            throw PatchPackageError.notAPatch(path: path, reason: "its module name \(moduleName) differs from its metadata's patch name \(meta.patchName)")
        }
        guard PatchPackage.isMaintainer(maintainer) else { throw PatchPackageError.badMaintainer(maintainer) }
        (series, generation) = PatchPackage.seriesAndGeneration(meta.patchName)
        patchName = meta.patchName
        release = meta.kernelRelease
        cumulative = meta.replacesAll
        cves = meta.operations.cves
        summary = meta.operations.summary
        details = meta.operations.description.map { $0.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().map(String.init) } ?? []
        toolVersion = meta.toolVersion
        self.maintainer = maintainer
        if generation > 1 && !cumulative {
            throw PatchPackageError.notCumulative(path: path, name: patchName, generation: generation, series: series)
        }
    }

    /// `livepatch_fix_v3` -> (`livepatch_fix`, 3); `livepatch_fix` -> (`livepatch_fix`, 1).
    public static func seriesAndGeneration(_ name: String) -> (String, Int) {
        let digits = name.reversed().prefix { $0.isASCII && $0.isNumber }
        let stem = name.dropLast(digits.count)
        guard !digits.isEmpty, stem.hasSuffix("_v"), stem.count > 2, digits.last != "0",
              let n = Int(String(digits.reversed())) else { return (name, 1) }
        return (String(stem.dropLast(2)), n)
    }

    /// Debian package names: lower case letters, digits, `+ - .`; module names add `_` and upper case.
    public var packageName: String {
        "kpatch-" + (series + "-" + release).lowercased().map { $0 == "_" ? "-" : String($0) }.joined()
    }

    public var version: String { String(generation) }
    public var moduleFile: String { "\(PatchPackage.shippedRoot)/\(release)/\(patchName).ko" }
    public var debFileName: String { "\(packageName)_\(version)_amd64.deb" }

    /// `kpatchctl (>= VERSION)`: the kpatchctl that built it knows the metadata format it wrote.
    public var depends: String {
        let tool = toolVersion.split(separator: ".").count == 3 && toolVersion.allSatisfy({ $0.isNumber || $0 == "." })
            ? "kpatchctl (>= \(toolVersion))" : "kpatchctl"
        return "\(tool), linux-image-\(release)"
    }

    /// The synopsis: what it fixes, for which kernel (Debian wants it short, no final period).
    public var synopsis: String {
        var text = "live patch for Linux \(release): " + (summary ?? patchName)
        if text.count > 79 { text = String(text.prefix(76)) + "..." }
        while text.hasSuffix(".") && !text.hasSuffix("...") { text.removeLast() }
        return text
    }

    public func control(installedSizeKiB: Int) -> String {
        var long: [String] = details.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.flatMap { PatchPackage.wrap($0) }
        if !cves.isEmpty { long += PatchPackage.wrap("Fixes: \(cves.joined(separator: ", ")).") }
        long += PatchPackage.wrap("Patch module \(patchName) (generation \(generation) of \(series)\(cumulative ? ", cumulative" : "")), "
                                  + "applied with kpatchctl when Linux \(release) runs and at every boot of it.")
        return """
            Package: \(packageName)
            Version: \(version)
            Architecture: amd64
            Maintainer: \(maintainer)
            Installed-Size: \(installedSizeKiB)
            Depends: \(depends)
            Section: kernel
            Priority: optional
            Description: \(synopsis)
            \(long.map { " " + $0 }.joined(separator: "\n"))

            """
    }

    private var scriptHeader: String {
        """
        #!/bin/sh
        # Written by kpatchctl package for the live patch \(patchName), Linux \(release).
        set -e
        store=\(PatchPackage.storeRoot)
        release='\(release)'
        name='\(patchName)'
        running() { [ "$(uname -r)" = "$release" ] && [ -d /sys/kernel/livepatch ]; }

        """
    }

    /// configure (and the abort-* paths that put this version back): store the module
    /// (`kpatchctl install` checks it against the release and, when it runs, the kernel),
    /// then apply what the store holds for the running release. On an upgrade the old
    /// generation's postrm already took it out of the store, so the new, cumulative one
    /// replaces it in the kernel in one transition.
    public var postinst: String {
        scriptHeader + """
            case "$1" in
            configure|abort-upgrade|abort-remove|abort-deconfigure)
                if [ ! -e "$store/$release/$name.json" ]; then
                    kpatchctl install --state-dir "$store" --kernel "$release" '\(moduleFile)'
                fi
                if running; then
                    kpatchctl load-installed --state-dir "$store"
                fi
                ;;
            esac
            exit 0

            """
    }

    /// remove: revert the patch if the kernel runs it (a failed revert fails the removal,
    /// so the package never goes while its code stays live). upgrade: nothing, the next
    /// generation replaces it without an unpatched gap.
    public var prerm: String {
        scriptHeader + """
            case "$1" in
            remove|deconfigure)
                if running && [ -d "/sys/kernel/livepatch/$name" ]; then
                    kpatchctl revert "$name"
                fi
                ;;
            esac
            exit 0

            """
    }

    /// remove and upgrade: take the module out of the install store (on upgrade the new
    /// generation's postinst puts its own in). On upgrade, uninstall's own hint ("still
    /// loaded: kpatchctl revert NAME") is wrong advice: the new version's postinst
    /// replaces the patch a moment later, so the script says that instead (and, for a
    /// reinstall of the same version, that the patch simply stays live).
    public var postrm: String {
        scriptHeader + """
            case "$1" in
            remove|purge|abort-install)
                if [ -e "$store/$release/$name.json" ] && command -v kpatchctl >/dev/null; then
                    kpatchctl uninstall --state-dir "$store" --kernel "$release" "$name"
                fi
                ;;
            upgrade)
                if [ -e "$store/$release/$name.json" ] && command -v kpatchctl >/dev/null; then
                    kpatchctl uninstall --state-dir "$store" --kernel "$release" "$name" >/dev/null
                    if running && [ -d "/sys/kernel/livepatch/$name" ]; then
                        if [ "$2" = "\(version)" ]; then
                            echo "$name stays live: version $2 is reinstalled (its postinst puts it back in the store)"
                        else
                            echo "$name stays live until version $2 replaces it (its postinst applies it)"
                        fi
                    fi
                fi
                ;;
            esac
            exit 0

            """
    }

    /// Lines of at most 79 characters (the extended description's lines, after their leading space, fit 80).
    static func wrap(_ text: String, width: Int = 79) -> [String] {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// The Debian changelog of a native package: one entry, this generation.
    public func changelog(diffSHA256: String, date: String) -> String {
        var what = "Live patch \(patchName) for Linux \(release)\(cumulative ? " (cumulative)" : ""), built by kpatchctl "
            + "\(toolVersion) from a diff with sha256 \(diffSHA256)."
        if !cves.isEmpty { what += " Fixes \(cves.joined(separator: ", "))." }
        let item = PatchPackage.wrap(what, width: 76)
        return "\(packageName) (\(version)) kpatchctl; urgency=medium\n\n"
            + item.enumerated().map { ($0.offset == 0 ? "  * " : "    ") + $0.element }.joined(separator: "\n")
            + "\n\n -- \(maintainer)  \(date)\n"
    }

    static func isMaintainer(_ value: String) -> Bool {
        guard let open = value.firstIndex(of: "<"), value.hasSuffix(">"), open > value.startIndex else { return false }
        let address = value[value.index(after: open)..<value.index(before: value.endIndex)]
        return address.contains("@") && !value.contains("\n") && !value[..<open].trimmingCharacters(in: .whitespaces).isEmpty
    }
}
