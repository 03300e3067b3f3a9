import ArgumentParser
import Foundation
import PatchBuild
import PatchCore

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a livepatch module from a source diff.",
        discussion: """
            Builds the module's original objects (cached), applies the diff to a private copy
            (the source directory is never modified), rebuilds only the objects the diff touches
            with -ffunction-sections -fdata-sections, diffs each pair, and links the changed
            functions with the patch-module template through Kbuild. Refusals name the symbol
            and say what to do instead; no .ko is written then.
            Targets: out-of-tree modules (--module-src). vmlinux targets are not built yet.
            """)

    @Argument(help: "The unified diff (applied with patch -p1 from the module directory).")
    var diff: String
    @Option(name: .customLong("module-src"), help: "The out-of-tree module's source directory.")
    var moduleSource: String?
    @Option(help: "Target kernel release (default: the running kernel's).")
    var kernel: String?
    @Option(name: .customLong("kernel-headers"), help: "The target's Kbuild tree (default: /usr/src/linux-headers-RELEASE).")
    var kernelHeaders: String?
    @Option(help: "The target's debug vmlinux (default: /usr/lib/debug/boot/vmlinux-RELEASE from linux-image-RELEASE-dbg).")
    var vmlinux: String?
    @Option(name: .customLong("target-module"), help: "The module .ko as deployed (its build id identifies the target; default: DIR/<module>.ko if present).")
    var targetModule: String?
    @Option(name: .shortAndLong, help: "Output .ko (default: ./<name>.ko).")
    var output: String?
    @Option(help: "Patch module name (default: livepatch_<diff file name>).")
    var name: String?
    @Option(help: "Cache directory (default: $KPATCHCTL_CACHE or ~/.cache/kpatchctl).")
    var cache: String?
    @Flag(help: "Print the result as JSON (progress goes to stderr).")
    var json = false

    func run() throws {
        guard let moduleSource else {
            throw ValidationError("vmlinux targets are not implemented yet: pass --module-src DIR for an out-of-tree module")
        }
        let request = ModuleBuildRequest(
            diffFile: URL(fileURLWithPath: diff), moduleSource: URL(fileURLWithPath: moduleSource),
            kernelRelease: kernel ?? TargetKernel.runningRelease,
            headers: kernelHeaders.map { URL(fileURLWithPath: $0) },
            vmlinux: vmlinux.map { URL(fileURLWithPath: $0) },
            deployedModule: targetModule.map { URL(fileURLWithPath: $0) },
            output: output.map { URL(fileURLWithPath: $0) }, patchName: name,
            cache: cache.map { BuildCache(root: URL(fileURLWithPath: $0)) } ?? BuildCache(root: BuildCache.defaultRoot),
            templateDir: try TemplateLocator.kmodDirectory(), toolVersion: KpatchctlVersion.string)
        let builder = ModulePatchBuilder(request: request) { event in
            switch event.kind {
            case .started: Output.warn("[\(event.stage.rawValue)] ...")
            case .finished: Output.warn("[\(event.stage.rawValue)] done in \(String(format: "%.2f", event.seconds)) s")
            case .note: Output.warn("[\(event.stage.rawValue)] \(event.message)")
            }
        }
        let result: BuildResult
        do {
            result = try builder.build()
        } catch let error as BuildError {
            if json { try Output.printJSON(BuildFailure(error)) }
            throw ExitCode.failure.with(message: error.description)
        }
        if json { return try Output.printJSON(result) }
        print("built \(result.output) (\(result.patchName)) for \(result.targetObject)\(result.targetBuildID.map { " build id \($0)" } ?? "")")
        print("replaces \(result.functions.count) function(s):")
        for f in result.functions { print("  \(f.object): \(f.name)\(f.sympos > 0 ? ",\(f.sympos)" : "")") }
        if !result.newSymbols.isEmpty { print("adds: \(result.newSymbols.joined(separator: ", "))") }
        print("livepatch relocations against \(result.livepatchSymbols.count) symbol(s)")
        let total = result.stages.map(\.seconds).reduce(0, +)
        print("stages: " + result.stages.map { "\($0.stage.rawValue) \(String(format: "%.2f", $0.seconds))s" }.joined(separator: ", ") + String(format: "; total %.2f s", total))
    }
}

/// The JSON shape of a failed build.
struct BuildFailure: Encodable {
    let error: String
    let refusals: [Refusal]?

    init(_ error: BuildError) {
        self.error = error.description
        if case .refused(let r) = error { refusals = r } else { refusals = nil }
    }
}

extension ExitCode {
    /// Prints `message` on stderr and exits with this code.
    func with(message: String) -> ExitCode {
        Output.warn("error: " + message)
        return self
    }
}
