import Interruption
import ArgumentParser
import FoundationEssentials
import PatchBuild
import PatchModel

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a livepatch module from a source diff.",
        discussion: """
            Builds the module's original objects (cached), applies the diff to a private copy \
            (the source directory is never modified), rebuilds only the objects the diff touches \
            with -ffunction-sections -fdata-sections, diffs each pair, and links the changed \
            functions with the patch-module template through Kbuild. Refusals name the symbol \
            and say what to do instead; no .ko is written then.

            Targets: an out-of-tree module (--module-src DIR), or, without --module-src, the kernel \
            itself: vmlinux and its in-tree modules, built from the release's source tree (prepared \
            once into the cache: Debian's linux-source tarball, the target's .config).

            Any Debian amd64 release (6.1.0-N: bookworm, +deb12: bookworm-backports, +deb13: \
            trixie): what this machine lacks of its headers, debug vmlinux, image and source is \
            fetched from Debian's archive through a private apt configuration (--packages), and when \
            this machine's compiler is not the kernel's (CONFIG_CC_VERSION_TEXT), every Kbuild call \
            runs in a build root of the kernel's Debian release made with mmdebstrap (as root).
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
    @Option(help: "Kernel targets: the kernel source tarball or directory (default: /usr/src/linux-source-X.Y.tar.xz).")
    var source: String?
    @Option(help: "Kernel targets: the target's .config (default: the headers' .config).")
    var config: String?
    @Option(name: .customLong("modules-dir"), help: "Kernel targets: the target's /lib/modules/RELEASE, for in-tree module objects.")
    var modulesDir: String?
    @Option(name: .customLong("modules-debug-dir"), help: "Kernel targets: the in-tree modules' debug builds, for the kthread analysis (default: /usr/lib/debug/lib/modules/RELEASE).")
    var modulesDebugDir: String?
    @Option(name: .customLong("target-module"), help: "The module .ko as deployed (its build id identifies the target; default: DIR/<module>.ko if present).")
    var targetModule: String?
    @Option(name: .shortAndLong, help: "Output .ko (default: ./<name>.ko).")
    var output: String?
    @Option(help: "Patch module name (default: livepatch_<diff file name>).")
    var name: String?
    @Option(help: "Cache directory (default: $KPATCHCTL_CACHE or ~/.cache/kpatchctl).")
    var cache: String?
    @Option(help: "Where a Debian release's packages are fetched and its build root made when this machine lacks them (default: $KPATCHCTL_PACKAGES, else the cache directory).")
    var packages: String?
    @Flag(help: "Build a cumulative patch: applying it replaces every enabled livepatch in one transition (klp_patch.replace); functions it does not carry return to their original code.")
    var replace = false
    @Flag(help: "Print the result as JSON (progress goes to stderr).")
    var json = false
    @Flag(help: "Also list the functions left out because only line numbers or counter-numbered names changed.")
    var verbose = false

    func run() throws {
        let progress: (BuildEvent) -> Void = { event in
            switch event.kind {
            case .started: break
            case .finished: printError("[\(event.stage.rawValue)] done in \(fixed(event.seconds, 2)) s")
            case .note: printError("[\(event.stage.rawValue)] \(event.message)")
            }
        }
        let url = { (path: String?) in path.map { URL(fileURLWithPath: $0) } }
        let release = kernel ?? TargetKernel.runningRelease
        let cacheRoot = BuildCache(root: url(cache) ?? BuildCache.defaultRoot)
        let template: URL
        do { template = try TemplateLocator.kmodDirectory() } catch { throw fail(error, code: .failure, json: json) }
        let target: BuildRequest.Target = moduleSource.map {
            .module(ModuleTargetOptions(moduleSource: URL(fileURLWithPath: $0), deployedModule: url(targetModule)))
        } ?? .kernel(KernelTargetOptions(source: url(source), config: url(config), modulesDir: url(modulesDir),
                                         modulesDebugDir: url(modulesDebugDir)))
        var request = BuildRequest(
            target: target, diffFile: URL(fileURLWithPath: diff), kernelRelease: release, headers: url(kernelHeaders),
            vmlinux: url(vmlinux), output: url(output), patchName: name, cache: cacheRoot, templateDir: template,
            toolVersion: KpatchctlVersion.string)
        request.replace = replace
        request.packages = url(packages)
        let build = PatchBuildPipeline(request: request, progress: progress).build
        // SIGINT/SIGTERM stop the running command and the build: exit 130/143, nothing written.
        Interruption.install()
        let result: BuildResult
        do {
            result = try build()
        } catch {
            let code: Int32
            switch error as? BuildError {
            case .nothingToPatch?: code = KpatchctlExit.nothingToPatch.rawValue
            case .interrupted(let signal)?: code = 128 + signal
            case .unknownRelease?, .notInArchive?, .compilerUnavailable?: code = KpatchctlExit.kernelUnavailable.rawValue
            default: code = KpatchctlExit.failure.rawValue
            }
            if json {
                printJSON(BuildFailure(error))
                throw ExitCode(code)
            }
            throw ExitCode(code).with(message: "\(error)")
        }
        if json { return printJSON(result) }
        print("built \(result.output) (\(result.patchName)) for \(result.targetObject)\(result.targetBuildID.map { " build id \($0)" } ?? "")")
        print("toolchain: \(result.toolchain)")
        print("replaces \(result.functions.count) function(s):")
        for f in result.functions {
            print("  \(f.object): \(f.name)\(f.sympos > 0 ? ",\(f.sympos)" : "")\(f.reason.map { " (\($0))" } ?? "")")
        }
        print("reasons: " + ChangeReason.Kind.allCases.compactMap { kind in
            result.diff.reasons[kind.rawValue].map { "\($0) \(kind.rawValue)" }
        }.joined(separator: ", "))
        if !result.diff.notraceBodies.isEmpty {
            print("carries notrace function(s) as new code, called by the replaced callers: \(result.diff.notraceBodies.joined(separator: ", "))")
        }
        if !result.newSymbols.isEmpty { print("adds: \(result.newSymbols.joined(separator: ", "))") }
        if !result.ignoredFiles.isEmpty {
            print("ignored \(result.ignoredFiles.count) touched file(s):")
            for line in result.ignoredFiles { print("  \(line)") }
        }
        if !result.diff.ignored.isEmpty {
            print("\(result.diff.ignored.count) functions ignored: only line numbers/counter-named references changed")
            if verbose { for name in result.diff.ignored { print("  \(name)") } }
        }
        for c in result.callbacks { print("callback: \(c.object) \(c.kind.label) \(c.function)") }
        for s in result.states { print("declares \(s)") }
        for change in result.ignored { print("ignored: \(change)") }
        if result.replace { print("cumulative: replaces every enabled livepatch when applied (--replace)") }
        print("livepatch relocations against \(result.livepatchSymbols.count) symbol(s)")
        let total = result.stages.map(\.seconds).reduce(0, +)
        print("stages: " + result.stages.map { "\($0.stage.rawValue) \(fixed($0.seconds, 2))s" }.joined(separator: ", ") + "; total \(fixed(total, 2)) s")
    }
}

/// The JSON shape of a failed build.
struct BuildFailure: Encodable {
    let error: String
    let refusals: [Refusal]?

    init(_ error: Error) {
        self.error = "\(error)"
        if case .refused(let r)? = error as? BuildError { refusals = r } else { refusals = nil }
    }
}

extension ExitCode {
    /// Prints `message` on stderr and exits with this code.
    func with(message: String) -> ExitCode {
        printError("error: " + message)
        return self
    }
}
