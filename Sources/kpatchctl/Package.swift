import ArgumentParser
import FoundationEssentials
import PatchBuild

struct PackageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Write one Debian package (.deb, with dpkg-deb) per patch module and release.",
        discussion: "The package kpatch-SERIES-RELEASE, version GENERATION (SERIES is the patch name without a "
            + "trailing _vN, GENERATION that N, else 1; a generation above 1 must be cumulative, built with "
            + "--replace), depends on kpatchctl and linux-image-RELEASE and carries the CVEs in its description. "
            + "Its postinst puts the module into the install store (/var/lib/kpatchctl/RELEASE) and, when RELEASE "
            + "runs, applies it with load-installed; its prerm reverts it on removal; an upgrade to the next "
            + "generation replaces it in one transition. docs/FLEET.md.")

    @Argument(help: "Patch modules built by kpatchctl build (NAME-RELEASE.ko, or any name).") var modules: [String]
    @Option(name: .shortAndLong, help: ArgumentHelp("Directory for the .deb files.", valueName: "dir")) var output = "."
    @Option(help: "The packages' Maintainer field: \"Full Name <address>\" (default: $DEBFULLNAME <$DEBEMAIL>).") var maintainer: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let results: [PatchPackageResult]
        do {
            results = try PatchPackager(outputDirectory: URL(fileURLWithPath: output), maintainer: maintainer).write(modules: modules)
        } catch {
            throw fail(error, code: .refused, json: json)
        }
        if json { return printJSON(results) }
        for r in results {
            let cves = r.cves.isEmpty ? "" : "; fixes \(r.cves.joined(separator: ", "))"
            print("\(r.deb): \(r.package) \(r.version) (\(r.patch) for \(r.release)\(r.cumulative ? ", cumulative" : "")\(cves))")
        }
    }
}
