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

            Several releases (--kernel R1 --kernel R2, --kernels FILE): one patch per release, \
            several at once, each with its own inputs: {release} in a path option stands for each \
            release. One release that is refused does not stop the others; a table (or --json) \
            gives each release's outcome. Exit 0 when every release was built, 1 otherwise.
            """)

    @Argument(help: "The unified diff (applied with patch -p1 from the module directory).")
    var diff: String
    @Option(name: .customLong("module-src"), help: "The out-of-tree module's source directory.")
    var moduleSource: String?
    @Option(help: ArgumentHelp(
        "Target kernel release (default: the running kernel's). Repeat it to build one patch per release into the -o directory.",
        valueName: "release"))
    var kernel: [String] = []
    @Option(name: .customLong("kernels"), help: ArgumentHelp(
        "A file of target releases, one a line (# comments); added to --kernel. Builds one patch per release.", valueName: "file"))
    var kernelsFile: String?
    @Option(help: "Several releases: how many to build at once (default: as many as cores and memory allow, 2 GiB each).")
    var jobs: Int?
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
    @Option(name: .shortAndLong, help: "Output .ko (default: ./<name>.ko); several releases: the directory for NAME-RELEASE.ko (default: .).")
    var output: String?
    @Option(help: "Patch module name (default: livepatch_<diff file name>).")
    var name: String?
    @Option(help: "Cache directory (default: $KPATCHCTL_CACHE or ~/.cache/kpatchctl).")
    var cache: String?
    @Option(help: "Where a Debian release's packages are fetched and its build root made when this machine lacks them (default: $KPATCHCTL_PACKAGES, else the cache directory).")
    var packages: String?
    @Option(name: .customLong("max-objects"), help: "Kernel targets: refuse before compiling when more objects than this use what the diff changes (default \(KernelTargetOptions.defaultMaxObjects); the build prints the time it predicts).")
    var maxObjects = KernelTargetOptions.defaultMaxObjects
    @Option(name: .customLong("max-functions"), help: "Refuse a patch that replaces more functions than this (default \(BuildRequest.defaultMaxFunctions)).")
    var maxFunctions = BuildRequest.defaultMaxFunctions
    @Option(name: .customLong("link-with"), help: ArgumentHelp(
        "How to link the patch module: recorded-commands (default: the release's Kbuild commands, recorded once, run directly; make where they cannot be recorded) or make (make -C HEADERS M=DIR modules).",
        valueName: "recorded-commands|make"))
    var linkWith: PatchModuleLinker?

    @Flag(help: "Build a cumulative patch: applying it replaces every enabled livepatch in one transition (klp_patch.replace); functions it does not carry return to their original code.")
    var replace = false
    @Option(name: .customLong("cve"), help: ArgumentHelp(
        "A CVE the patch fixes (repeatable); info, list, status and the Prometheus file show it.", valueName: "CVE-YYYY-NNNN"))
    var cves: [String] = []
    @Option(help: "What the patch fixes, in a short paragraph (its first line is the package synopsis).")
    var description: String?
    @Option(name: .customLong("sign-key"), help: ArgumentHelp(
        "Sign the module with this private key (PEM), with the release's own scripts/sign-file; needs --sign-cert.", valueName: "key"))
    var signKey: String?
    @Option(name: .customLong("sign-cert"), help: ArgumentHelp(
        "The X.509 certificate of --sign-key (PEM or DER); the kernel must trust it (built in, or enrolled with mokutil).", valueName: "cert"))
    var signCert: String?
    @Flag(help: "Also write the Debian package of each built module beside it (as kpatchctl package).")
    var deb = false
    @Option(help: "--deb: the packages' Maintainer field, \"Full Name <address>\" (default: $DEBFULLNAME <$DEBEMAIL>).")
    var maintainer: String?
    @Flag(help: "Print the result as JSON (progress goes to stderr).")
    var json = false
    @Flag(help: "Also list the functions left out because only line numbers or counter-numbered names changed.")
    var verbose = false

    func run() throws {
        let releases = try targetReleases()
        let cacheRoot = BuildCache(root: URL(fileURLWithPath: cache ?? BuildCache.defaultRoot.path))
        let template: URL
        do { template = try TemplateLocator.kmodDirectory() } catch { throw fail(error, code: .failure, json: json) }
        let operations: PatchOperations
        do { operations = try PatchOperations(cves: cves, description: description) } catch {
            throw ValidationError("\(error)")
        }
        guard (signKey == nil) == (signCert == nil) else { throw ValidationError("--sign-key and --sign-cert go together") }
        if releases.count > 1 || kernelsFile != nil {
            return try runReleases(releases.map { request(for: $0, cache: cacheRoot, template: template, operations: operations) })
        }
        let single = request(for: releases.first ?? TargetKernel.runningRelease, cache: cacheRoot, template: template,
                             operations: operations)
        let renderer = BuildProgress()
        let progress: (BuildEvent) -> Void = { renderer.show($0) }
        let build = PatchBuildPipeline(request: single, progress: progress).build
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
        let packages = try packageIfAsked([result.output], into: URL(fileURLWithPath: result.output).deletingLastPathComponent())
        if json { return printJSON(BuildOutput(result: result, packages: packages)) }
        print("built \(result.output) (\(result.patchName)) for \(result.targetObject)\(result.targetBuildID.map { " build id \($0)" } ?? "")")
        print("toolchain: \(result.toolchain)")
        print("linked with: \(result.linker.rawValue)")
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
        if let symvers = result.moduleSymvers {
            print("exports: \(result.exports.joined(separator: ", ")); build modules that use them with KBUILD_EXTRA_SYMBOLS=\(symvers)")
        }
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
        if !result.operations.cves.isEmpty { print("fixes: \(result.operations.cves.joined(separator: ", "))") }
        if result.replace { print("cumulative: replaces every enabled livepatch when applied (--replace)") }
        print("livepatch relocations against \(result.livepatchSymbols.count) symbol(s)")
        if let signature = result.signature {
            print("signed: \(signature.signer) (key serial \(signature.serial), \(signature.hashAlgorithm))")
        }
        for p in packages ?? [] { print("package: \(p.deb) (\(p.package) \(p.version))") }
        let total = result.stages.map(\.seconds).reduce(0, +)
        print("stages: " + result.stages.map { "\($0.stage.rawValue) \(fixed($0.seconds, 2))s" }.joined(separator: ", ") + "; total \(fixed(total, 2)) s")
    }
}

extension Build {
    /// --kernel values then the --kernels file's lines, blank lines and # comments skipped.
    func targetReleases() throws -> [String] {
        var releases = kernel
        if let kernelsFile {
            let text: String
            do { text = try String(contentsOfFile: kernelsFile, encoding: .utf8) } catch {
                throw ValidationError("cannot read --kernels \(kernelsFile): \(error)")
            }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .split(whereSeparator: \.isWhitespace)
                guard let release = words.first else { continue }
                guard words.count == 1 else { throw ValidationError("--kernels \(kernelsFile): one release a line, not '\(line)'") }
                releases.append(String(release))
            }
            if releases.isEmpty { throw ValidationError("--kernels \(kernelsFile) names no release") }
        }
        return releases
    }

    /// The request for one release: `{release}` in a path option is that release.
    func request(for release: String, cache: BuildCache, template: URL, operations: PatchOperations) -> BuildRequest {
        let url = { (path: String?) in path.map { URL(fileURLWithPath: $0.replacingReleasePlaceholder(with: release)) } }
        var kernelOptions = KernelTargetOptions(source: url(source), config: url(config), modulesDir: url(modulesDir),
                                                modulesDebugDir: url(modulesDebugDir))
        kernelOptions.maxObjects = maxObjects
        let target: BuildRequest.Target = moduleSource.map {
            .module(ModuleTargetOptions(moduleSource: URL(fileURLWithPath: $0), deployedModule: url(targetModule)))
        } ?? .kernel(kernelOptions)
        var request = BuildRequest(
            target: target, diffFile: URL(fileURLWithPath: diff), kernelRelease: release, headers: url(kernelHeaders),
            vmlinux: url(vmlinux), output: url(output), patchName: name, cache: cache, templateDir: template,
            toolVersion: KpatchctlVersion.string)
        request.replace = replace
        request.maxFunctions = maxFunctions
        request.linker = linkWith
        request.packages = url(packages)
        request.operations = operations
        if let signKey, let signCert {
            request.signing = ModuleSigning(key: URL(fileURLWithPath: signKey), certificate: URL(fileURLWithPath: signCert))
        }
        return request
    }

    /// Every release through MultiReleaseBuild, then the table (or JSON).
    func runReleases(_ requests: [BuildRequest]) throws {
        let directory = URL(fileURLWithPath: output ?? ".")
        Interruption.install()
        let result: MultiReleaseBuildResult
        do {
            let builds = try MultiReleaseBuild(requests: requests.map { var r = $0; r.output = nil; return r },
                                               outputDirectory: directory, parallelism: jobs)
            if !json { printError("building \(requests.count) release(s), \(builds.parallelism) at a time") }
            result = try builds.run { release, event in
                switch event.kind {
                case .started, .progress: break  // several builds at once: no rewritten progress line
                case .finished: printError("[\(release)] [\(event.stage.rawValue)] done in \(fixed(event.seconds, 2)) s")
                case .note: printError("[\(release)] [\(event.stage.rawValue)] \(event.message)")
                }
            }
        } catch {
            let code: Int32 = if case .interrupted(let signal)? = error as? BuildError { 128 + signal } else { KpatchctlExit.failure.rawValue }
            if json {
                printJSON(BuildFailure(error))
                throw ExitCode(code)
            }
            throw ExitCode(code).with(message: "\(error)")
        }
        let packages = try packageIfAsked(result.built.compactMap(\.output), into: directory)
        if json {
            printJSON(BuildOutput(result: result, packages: packages))
        } else {
            print("\(result.patchName) from \(diff) (sha256 \(result.diffSHA256.prefix(12))) into \(result.outputDirectory):")
            let width = max(7, result.releases.map(\.release.count).max() ?? 0)
            func pad(_ text: String, _ n: Int) -> String { text + String(repeating: " ", count: max(0, n - text.count)) }
            print(pad("release", width) + "  status   functions  time      reason")
            for r in result.releases {
                print(pad(r.release, width) + "  " + pad(r.status.rawValue, 7) + "  " + pad(String(r.functions), 9) + "  "
                      + pad(fixed(r.seconds, 1) + " s", 8) + "  " + (r.reason ?? (r.output.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "")))
            }
            print("\(result.built.count) of \(result.releases.count) built in \(fixed(result.seconds, 1)) s (\(result.parallelism) at a time)")
            for r in result.releases where r.status != .built {
                if let error = r.error, error.contains("\n") { printError("[\(r.release)] \(error)") }
            }
            for p in packages ?? [] { print("package: \(p.deb) (\(p.package) \(p.version))") }
        }
        if result.built.count != result.releases.count { throw ExitCode(KpatchctlExit.failure.rawValue) }
    }
}

extension Build {
    /// --deb: the packages of the modules built (nil without --deb). A module that cannot be
    /// packaged fails the command after the build, naming why; the modules stay.
    func packageIfAsked(_ modules: [String], into directory: URL) throws -> [PatchPackageResult]? {
        guard deb, !modules.isEmpty else { return nil }
        do { return try PatchPackager(outputDirectory: directory, maintainer: maintainer).write(modules: modules) } catch {
            throw fail(error, code: .failure, json: json)
        }
    }
}

/// `build --json`: the build's result (one release or several), and with --deb its packages.
struct BuildOutput<Result: Encodable>: Encodable {
    let result: Result
    let packages: [PatchPackageResult]?

    func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encodeIfPresent(packages, forKey: .packages)
    }

    enum Key: String, CodingKey { case packages }
}

extension String {
    /// `{release}` in a path option, for builds of several releases.
    func replacingReleasePlaceholder(with release: String) -> String {
        split(separator: "{release}", omittingEmptySubsequences: false).joined(separator: release)
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

extension PatchModuleLinker: ExpressibleByArgument {}
