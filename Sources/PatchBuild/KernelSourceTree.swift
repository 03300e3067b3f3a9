import FoundationEssentials
import Glibc
import PatchModel

/// The target kernel's source tree, prepared once per release into the cache so
/// that single objects build: the sources (Debian's linux-source tarball or a
/// directory), the target's .config, `olddefconfig`, `modules_prepare`.
/// Only objects the diff touches are ever compiled in it.
struct KernelSourceTree {
    let dir: URL
    /// The target's compiler and where it runs (host or build root): every make here runs with it.
    let toolchain: Toolchain

    /// Flags every object gets, original and patched alike.
    static let kcflags = "-ffunction-sections -fdata-sections"

    /// Where the built-in object or module an object belongs to, from Kbuild's
    /// record of the command that compiled it.
    enum Owner: Equatable {
        case vmlinux
        case module(String)

        var livepatchObjectName: String {
            switch self { case .vmlinux: return "vmlinux"; case .module(let m): return m }
        }
    }

    /// Prepares (or reuses) `<cache>/kernels/<release>/tree`. The caller holds the
    /// release's `TreeLock`. The `prepared` stamp is written last and names the inputs,
    /// so a preparation that was interrupted (or made from other inputs, or by a
    /// kpatchctl that patched trees in place) is redone from scratch, never used.
    static func prepare(release: String, source: URL, config: URL, toolchain: Toolchain, cache: BuildCache,
                        note: (String) -> Void) throws -> KernelSourceTree {
        let fm = FileManager.default
        let base = cache.root.appendingPathComponent("kernels/\(release)")
        let configCompiler = try KernelCompiler.read(config: config)
        guard configCompiler == toolchain.compiler else {
            throw BuildError.compilerUnavailable("\(config.path) names '\(configCompiler.versionText)' but the target's headers were built with '\(toolchain.compiler.versionText)': pass the target's own .config")
        }
        let tree = KernelSourceTree(dir: base.appendingPathComponent("tree"), toolchain: toolchain)
        let stamp = base.appendingPathComponent("prepared")
        guard fm.fileExists(atPath: source.path) else {
            throw BuildError.missingInput(what: "kernel source", path: source.path)
        }
        let inputs = try preparedStamp(source: source, config: config, toolchain: toolchain)
        if let found = try? String(contentsOf: stamp, encoding: .utf8), found == inputs {
            note("reusing the prepared tree \(tree.dir.path)")
            return tree
        }
        if fm.fileExists(atPath: base.path) {
            note(fm.fileExists(atPath: stamp.path) ? "the prepared tree was made from other inputs: preparing it again"
                                                    : "an earlier preparation did not finish: preparing the tree again")
            try fm.removeItem(at: base)
        }
        try fm.createDirectory(at: base, withIntermediateDirectories: true)
        if KernelFile.isDirectory(source.path) {
            note("copying \(source.path)")
            try CommandRunner.check(.prepare, ["cp", "-a", source.path + "/.", tree.dir.path + "/"], environment: [:])
        } else {
            note("unpacking \(source.lastPathComponent)")
            let unpack = base.appendingPathComponent("unpack")
            try fm.createDirectory(at: unpack, withIntermediateDirectories: true)
            try CommandRunner.check(.prepare, ["tar", "-xf", source.path, "-C", unpack.path])
            let top = try fm.contentsOfDirectory(atPath: unpack.path)
            guard top.count == 1 else {
                throw BuildError.verification("\(source.path) does not unpack to one directory (found \(top))")
            }
            try fm.moveItem(at: unpack.appendingPathComponent(top[0]), to: tree.dir)
            try fm.removeItem(at: unpack)
        }
        try fm.copyItem(at: config, to: tree.dir.appendingPathComponent(".config"))
        note("make olddefconfig (\(toolchain.description))")
        try tree.make(.prepare, ["olddefconfig"])
        note("make modules_prepare")
        try tree.make(.prepare, ["modules_prepare"])
        try Data(inputs.utf8).write(to: stamp, options: .atomic)
        return tree
    }

    /// What the prepared tree was made from: the stamp's content (a tree prepared in a build
    /// root names it; a host tree's stamp is as before build roots existed).
    private static func preparedStamp(source: URL, config: URL, toolchain: Toolchain) throws -> String {
        var info = stat()
        guard stat(source.path, &info) == 0 else {
            throw BuildError.missingInput(what: "kernel source (\(String(cString: strerror(errno))))", path: source.path)
        }
        let size = Int64(info.st_size), modified = Int64(info.st_mtim.tv_sec)
        let configHash = hexString(SHA256.hash(data: try Data(contentsOf: config)))
        return "kpatchctl prepared tree v2\nsource \(source.path) \(size) \(modified)\nconfig sha256 \(configHash)\n"
            + (toolchain.buildRoot == nil ? "" : "toolchain \(toolchain.description)\n")
    }

    /// The make targets that build `objects` with their real flags (`KbuildBuildPath`).
    private func targets(_ objects: [String]) throws -> [String] {
        try objects.map { try KbuildBuildPath.target(of: $0, in: dir) }
    }

    func make(_ stage: BuildStage, _ targets: [String]) throws {
        try CommandRunner.check(stage, toolchain.command(makeCommand(targets)))
    }

    /// `make` in the tree with the target's compiler and the differ's flags, the same
    /// for both sides: a flag that differs would make Kbuild rebuild its prepared files.
    /// One job per core; Kbuild's quiet output (a `CC` line per object) is what
    /// `KbuildProgress` counts.
    private func makeCommand(_ targets: [String], keepGoing: Bool = false) -> [String] {
        let jobs = ProcessInfo.processInfo.activeProcessorCount
        return ["make", "--no-print-directory"] + (keepGoing ? ["-k"] : []) + ["-j\(jobs)", "-C", dir.path, "CC=\(toolchain.compiler.command)",
                                                             "KCFLAGS=\(Self.kcflags)"] + targets
    }

    /// Builds `objects` as the patched side: `upper` holds the patched files (paths
    /// relative to the tree) and is laid over the prepared tree with overlayfs, mounted
    /// on the tree's own path in a private mount namespace (so paths, and with them
    /// DWARF and `__FILE__`, are the original's). Kbuild writes every object and
    /// `.cmd` into `upper`; the cached tree is never written, and the mount dies with
    /// the command however it ends. `authorInclude` (kmod/include, the author API) is on
    /// the patched side's include path through gcc's CPATH, which Kbuild does not record,
    /// so only the objects whose sources changed are rebuilt. Returns each object's path
    /// in `upper`.
    func buildPatched(_ objects: [String], upper: URL, stage: BuildStage, authorInclude: URL? = nil,
                      onLine: ((Substring) -> Void)? = nil) throws -> [URL] {
        let fm = FileManager.default
        let scratch = upper.deletingLastPathComponent().appendingPathComponent("overlay-work")
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        for path in [dir.path, upper.path, scratch.path] where path.contains(",") || path.contains(":") {
            throw BuildError.overlayUnavailable("\(path) contains ',' or ':', which overlayfs options cannot name")
        }
        // Newer than the original objects, which were compiled after the patched files were written:
        // make decides by modification time.
        for entry in try DirectoryWalk.entries(under: upper) where entry.isRegularFile {
            guard utimes(entry.url.path, nil) == 0 else {
                throw BuildError.verification("cannot touch \(entry.url.path): \(String(cString: strerror(errno)))")
            }
        }
        // As root a mount namespace is enough; otherwise a user namespace maps us to root in it
        // (overlayfs then keeps its metadata in user.* extended attributes).
        let privileged = geteuid() == 0
        let unshare = privileged ? ["unshare", "--mount", "--propagation", "private"]
                                 : ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
        let script = #"mount -t overlay kpatchctl-patched -o "lowerdir=$1,upperdir=$2,workdir=$3$4" "$1" || { echo "kpatchctl-overlay: mount failed" >&2; exit 90; }; shift 4; exec "$@""#
        func inOverlay(_ command: [String], describedAs what: String) throws {
            let argv = unshare + ["sh", "-c", script, "kpatchctl-overlay", dir.path, upper.path, scratch.path,
                                  privileged ? "" : ",userxattr"] + toolchain.command(command)
            let environment = KbuildRecordedCommands.environment(authorInclude.map { ["CPATH": $0.path] } ?? [:])
            let result = try CommandRunner.run(argv, environment: environment, onLine: onLine)
            guard result.status != 0 else { return }
            let lines = result.output.split(separator: "\n")
            if let line = lines.first(where: { $0.hasPrefix("unshare:") }) ?? (result.status == 90 ? lines.first : nil) {
                throw BuildError.overlayUnavailable(result.status == 90 ? result.output : String(line))
            }
            throw BuildError.commandFailed(stage: stage, command: "\(what) (patched, in a private overlay)",
                                           status: result.status, output: result.output)
        }
        if let script = try directCompileScript(objects) {
            try inOverlay(["sh", "-c", script], describedAs: "Kbuild's recorded commands for \(objects.joined(separator: " "))")
            let exporting = try KbuildRecordedCommands.removeExporters(objects, in: upper)
            if !exporting.isEmpty { try inOverlay(makeCommand(try targets(exporting)), describedAs: "make \(exporting.joined(separator: " "))") }
        } else {
            try inOverlay(makeCommand(try targets(objects)), describedAs: "make \(objects.joined(separator: " "))")
        }
        return try objects.map { object in
            let built = upper.appendingPathComponent(object)
            guard fm.fileExists(atPath: built.path) else {
                throw BuildError.verification("the patched build did not produce \(object) (Kbuild found it up to date): nothing to compare")
            }
            return built
        }
    }

    /// A script that runs, from the tree's top, the commands Kbuild recorded for `objects`
    /// in the prepared tree (`KbuildRecordedCommands`); nil when there are more objects than
    /// cores or one has no recorded command, for which make decides.
    func directCompileScript(_ objects: [String]) throws -> String? {
        guard let commands = try KbuildRecordedCommands.commands(for: objects, in: dir) else { return nil }
        return KbuildRecordedCommands.script(commands, from: dir)
    }

    /// Why an object did not compile: the compiler's first error in the object's own
    /// source (`diagnosed`: the same source, configuration and compiler fail the same
    /// way again), else make's line for it (a killed compiler, a full disk: may pass
    /// next time).
    struct CompileFailure: Equatable {
        let message: String
        let diagnosed: Bool
    }

    /// Builds what this configuration builds of `objects` (make -k). Returns those built
    /// (the object and its `.cmd`, which Kbuild writes last, exist), those Kbuild has no
    /// rule for (not configured), and those that failed to compile: a file in a module's
    /// directory that this configuration does not build still has Kbuild's single-object
    /// rule, and fails there (mm/kmemleak.c without CONFIG_DEBUG_KMEMLEAK). The caller
    /// decides what a failure means.
    func buildConfigured(_ objects: [String], stage: BuildStage,
                         onLine: ((Substring) -> Void)? = nil) throws -> (built: [String], failed: [String: CompileFailure]) {
        let spelled = Dictionary(uniqueKeysWithValues: try objects.map { ($0, try KbuildBuildPath.target(of: $0, in: dir)) })
        let result = try CommandRunner.run(toolchain.command(makeCommand(objects.map { spelled[$0]! }, keepGoing: true)), onLine: onLine)
        let unconfigured = Set(objects.filter { result.output.contains("No rule to make target '\(spelled[$0]!)'") })
        let fm = FileManager.default
        let built = objects.filter { object in
            !unconfigured.contains(object) && fm.fileExists(atPath: dir.appendingPathComponent(object).path)
                && KbuildCommandFile(object: object, in: dir).exists
        }
        var failed: [String: CompileFailure] = [:]
        let lines = result.output.split(separator: "\n")
        for object in objects where !unconfigured.contains(object) && !built.contains(object) {
            let source = String(spelled[object]!.dropLast(2))
            // Its own first error, else make's line for it ("*** [...: OBJECT] Error 1").
            if let line = lines.first(where: { $0.hasPrefix(source + ".c:") && $0.contains("error:") }) {
                failed[object] = CompileFailure(message: String(line), diagnosed: true)
            } else {
                let line = lines.first { $0.contains("\(spelled[object]!)]") && $0.contains("Error ") }.map(String.init)
                failed[object] = CompileFailure(message: line ?? "make exited \(result.status)", diagnosed: false)
            }
        }
        guard result.status == 0 || !failed.isEmpty || built.count + unconfigured.count == objects.count else {
            throw BuildError.commandFailed(stage: stage, command: "make \(objects.joined(separator: " "))",
                                           status: result.status, output: result.output)
        }
        return (built, failed)
    }

    /// The tree's `#include` graph, read once per prepared tree (grep, each
    /// include resolved against the tree) and cached beside it as resolved edges.
    func includeGraph() throws -> IncludeGraph {
        let cached = dir.deletingLastPathComponent().appendingPathComponent("include-graph.txt")
        if let text = try? String(contentsOf: cached, encoding: .utf8) {
            return IncludeGraph(edgeLines: text.split(separator: "\n"))
        }
        let output = try CommandRunner.check(.prepare, ["grep", "-rE", "--include=*.c", "--include=*.h",
                                                        "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]", "."], in: dir)
        let fm = FileManager.default
        let graph = IncludeGraph(grepLines: output.split(separator: "\n")) { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }
        try graph.edgeLines.joined(separator: "\n").write(to: cached, atomically: true, encoding: .utf8)
        return graph
    }

    /// vmlinux or the module an object was compiled for (`-DMODULE` and
    /// `-DKBUILD_MODNAME` in its `.o.cmd`).
    func owner(of object: String) throws -> Owner {
        guard let line = try KbuildCommandFile(object: object, in: dir).commandLine() else {
            throw BuildError.objectNotInModule(object: object)
        }
        guard line.contains(" -DMODULE ") else { return .vmlinux }
        guard let range = line.firstRange(of: "-DKBUILD_MODNAME='\"") else { throw BuildError.objectNotInModule(object: object) }
        let rest = line[range.upperBound...]
        return .module(String(rest.prefix { $0 != "\"" }).replacing("-", with: "_"))
    }
}
