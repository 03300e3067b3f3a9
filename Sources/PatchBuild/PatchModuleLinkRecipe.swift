import FoundationEssentials
import Glibc
import PatchModel

/// How a patch module was linked (`build` output and `--json`).
public enum PatchModuleLinker: String, Codable, Sendable {
    /// The release's recorded Kbuild commands, run directly (`PatchModuleLinkRecipe`).
    case recordedCommands = "recorded-commands"
    /// `make -C <headers> M=<dir> modules`.
    case make
}

/// The commands Kbuild runs to make a patch module's Kbuild directory into a `.ko`, recorded
/// once per release from `make M=<dir> modules V=1` on a probe module (the patch's own sources
/// under `probeName`) and run directly for every later patch, with its directory and name put
/// in. Most of an external-module make run is Kbuild's start-up (reading the Makefiles,
/// dozens of `cc-option` compiler probes), repeated by each of its three sub-makes; the work
/// itself is two compiles, `ld -r`, modpost, the `.mod.c` compile and the final `ld`, the
/// same for every patch but for the directory and the module name (plus BTF where the headers
/// hold a vmlinux). The `.ko` is the one make links, but for the build directory's name in DWARF,
/// the order of DWARF's merged strings and the build id over them (`LinkRecipeTests`).
///
/// Recorded only when the probe's run is fully understood: every command file Kbuild wrote is
/// one the recipe replays, the `.mod` list and modules.order are what the recipe writes, modpost
/// and BTF are the commands the recipe knows, and no command or export names the build directory
/// outside the probe's own. Otherwise the reason is cached and make links.
struct PatchModuleLinkRecipe: Codable, Equatable {
    static let probeName = "kpatchctl_link_probe"
    static let dirToken = "@KPATCHCTL_DIR@"
    static let nameToken = "@KPATCHCTL_NAME@"
    static let format = "kpatchctl link recipe v3"
    /// The template's objects Kbuild compiles, in the order of `compiles`.
    static let compiled = ["kpatch-patch.o", "kpatch-meta.o"]

    /// What the recipe was recorded for; another key means recording again.
    let key: String
    /// The template's compiles (kpatch-patch.c, kpatch-meta.S; objtool where the kernel runs it
    /// per object), run concurrently.
    let compiles: [String]
    /// `ld -r` of the objects `<name>.mod` lists into `<name>.o` (and objtool on it where the
    /// kernel runs objtool on linked modules).
    let linkObject: String
    /// modpost over modules.order: `<name>.mod.c`, the module's Module.symvers.
    let modpost: String
    /// The `.mod.c` compile.
    let compileModC: String
    /// `ld -r -T module.lds` into the `.ko`.
    let linkModule: String
    /// modules.order as Kbuild writes it.
    let modulesOrder: String
    /// BTF for the module (CONFIG_DEBUG_INFO_BTF_MODULES: pahole, resolve_btfids), which Kbuild
    /// runs when the headers hold a vmlinux, as the replay does.
    let btf: String?
    /// `.module-common.o` (6.10 on: `scripts/module-common.c`, the vermagic and build salt every
    /// external module links), the same for every module of the release: compiled once by the
    /// probe's make run and kept here, nil where the kernel has none.
    let commonObject: Data?
    static let commonObjectName = ".module-common.o"
    /// What make exports to the commands it runs and the caller's environment lacks (Debian's
    /// objtool wrapper needs `SRCARCH`, for one): read in the probe's run, set for the replay.
    let environment: [String: String]

    /// The file the probe's Kbuild writes make's environment to (`env -0`).
    static let environmentFile = "kpatchctl-make.env"
    /// Appended to the probe's Kbuild file: a rule that records the environment make's commands
    /// get, run before the template's compile (a prerequisite that compile's command never names).
    static let environmentRule = """

        # kpatchctl: what make exports to its commands, for the link recipe.
        $(obj)/kpatch-patch.o: $(obj)/\(environmentFile)
        $(obj)/\(environmentFile): FORCE
        \tenv -0 > $@

        """
    /// Variables of make's own, set per command, or of the probe's `V=1` (which only changes
    /// what make itself prints): not carried over.
    static let makeInternal: Set<String> = ["PWD", "OLDPWD", "SHLVL", "_", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
                                            "MAKE_TERMOUT", "MAKE_TERMERR", "PATH", "V", "KBUILD_VERBOSE", "Q", "quiet"]

    /// The cached outcome for this kernel: a recipe, or why make links.
    enum Cached {
        case recipe(PatchModuleLinkRecipe)
        case unavailable(String)
        case missing
    }

    private struct Stored: Codable {
        var format: String
        var key: String
        var recipe: PatchModuleLinkRecipe?
        var unavailable: String?
    }

    /// `kernels/<release>/link-recipe.json` in the build cache, like the vermagic probe.
    static func file(cache: BuildCache, release: String) -> URL {
        cache.root.appendingPathComponent("kernels/\(release)/link-recipe.json")
    }

    /// What a recipe depends on: the headers (path, config, the Makefiles' size and time, whether
    /// they hold a vmlinux for BTF), the toolchain and the template's Kbuild file.
    static func key(kernel: TargetKernel, templateDir: URL) throws -> String {
        let fm = FileManager.default
        let config = try Data(contentsOf: kernel.headers.appendingPathComponent(".config"))
        let kbuild = try Data(contentsOf: templateDir.appendingPathComponent("Kbuild.in"))
        let makefiles = ["Makefile", "scripts/Makefile.build", "scripts/Makefile.modpost", "scripts/Makefile.modfinal"].map { file in
            // Missing (another layout): named as such, which keys the recipe just as well.
            var info = stat()
            guard stat(kernel.headers.appendingPathComponent(file).path, &info) == 0 else { return "\(file) missing" }
            return "\(file) \(info.st_size) \(info.st_mtim.tv_sec)"
        }.joined(separator: ", ")
        return "headers \(kernel.headers.path)\nconfig sha256 \(hexString(SHA256.hash(data: config)))\nmakefiles \(makefiles)\n"
            + "vmlinux \(fm.fileExists(atPath: kernel.headers.appendingPathComponent("vmlinux").path))\n"
            + "toolchain \(kernel.toolchain.description)\ntemplate sha256 \(hexString(SHA256.hash(data: kbuild)))\n"
    }

    static func load(from file: URL, key: String) throws -> Cached {
        guard FileManager.default.fileExists(atPath: file.path) else { return .missing }
        // A file of another kpatchctl (or a torn one) is recorded again, not an error.
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(contentsOf: file)), stored.format == format, stored.key == key else { return .missing }
        if let recipe = stored.recipe { return .recipe(recipe) }
        return .unavailable(stored.unavailable ?? "no recipe recorded")
    }

    static func save(_ outcome: Result<PatchModuleLinkRecipe, RecipeUnavailable>, key: String, to file: URL) throws {
        var stored = Stored(format: format, key: key)
        switch outcome {
        case .success(let recipe): stored.recipe = recipe
        case .failure(let reason): stored.unavailable = reason.reason
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(stored).write(to: file, options: .atomic)
    }

    struct RecipeUnavailable: Error { let reason: String }

    /// The `.mod` file Kbuild writes for a module of `objects`: one path per line.
    static func modList(dir: URL, objects: [String]) -> String {
        objects.map { "\(dir.path)/\($0)\n" }.joined()
    }

    /// Reads the recipe off a probe's directory after `make V=1` linked it there; `objects` are
    /// the module's objects in Kbuild order, `output` make's. `work` is the build's directory:
    /// a command naming it elsewhere than in the probe's directory would not carry over.
    static func record(probe dir: URL, objects: [String], makeOutput output: String, key: String,
                       work: URL) -> Result<PatchModuleLinkRecipe, RecipeUnavailable> {
        func fail(_ reason: String) -> Result<PatchModuleLinkRecipe, RecipeUnavailable> { .failure(RecipeUnavailable(reason: reason)) }
        let name = probeName
        let replayed = compiled + ["\(name).o", "\(name).mod.o", "\(name).ko"]
        let shipped = objects.filter { !compiled.contains($0) }
        // What Kbuild records besides the replayed commands: the `.mod` list, modules.order,
        // Module.symvers (modpost) and the shipped objects' files (written by PatchModuleSources).
        var known = Set((replayed + ["\(name).mod", "modules.order", "Module.symvers"] + shipped).map { ".\($0).cmd" })
        // The release's common object: kept when it does not depend on the module (no path or name of the probe in it).
        let common = try? Data(contentsOf: dir.appendingPathComponent(commonObjectName))
        if let common {
            for word in [dir.path, name] where common.firstRange(of: Data(word.utf8)) != nil {
                return fail("\(commonObjectName) names the module (\(word)), so it cannot be shared")
            }
            known.insert(".\(commonObjectName).cmd")
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return fail("cannot list \(dir.path)") }
        let unknown = names.filter { $0.hasSuffix(".cmd") && !known.contains($0) }.sorted()
        guard unknown.isEmpty else { return fail("Kbuild ran steps the recipe does not replay (\(unknown.joined(separator: ", ")))") }
        var commands: [String] = []
        for object in replayed {
            guard let line = try? KbuildCommandFile(object: object, in: dir).commandLine() else {
                return fail("Kbuild recorded no command for \(object)")
            }
            commands.append(line)
        }
        guard let envBytes = try? Data(contentsOf: dir.appendingPathComponent(environmentFile)) else {
            return fail("make's environment was not recorded")
        }
        var caller = ProcessInfo.processInfo.environment
        caller["LC_ALL"] = "C"
        var environment: [String: String] = [:]
        for entry in envBytes.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { continue }
            let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
            if !makeInternal.contains(key), caller[key] != value { environment[key] = value }
        }
        let modposts = output.split(separator: "\n").filter { $0.contains("scripts/mod/modpost ") }
        guard modposts.count == 1, let modpostLine = modposts.first else {
            return fail("make's output shows \(modposts.count) modpost commands, not one")
        }
        // make V=1 shows each command through `echo '...'`, which would have changed backslashes.
        guard !modpostLine.contains("\\") else { return fail("the modpost command has a backslash: \(modpostLine)") }
        // CONFIG_DEBUG_INFO_BTF_MODULES: `if [ ! -f vmlinux ]; then printf "Skipping ..."; else pahole ...;
        // resolve_btfids ...; fi;` (the printf's `\n` comes out of echo as a line break; the else branch has none).
        var btf: String?
        let btfLines = output.split(separator: "\n").filter { $0.contains("pahole -J") }
        if !btfLines.isEmpty {
            guard btfLines.count == 1, let line = btfLines.first, let start = line.firstRange(of: "; else "),
                  let end = line.ranges(of: " fi;").last, start.upperBound <= end.lowerBound else {
                return fail("the BTF command in make's output is not the one the recipe knows: \(btfLines.joined(separator: " | "))")
            }
            let command = line[start.upperBound..<end.lowerBound]
            guard command.contains("resolve_btfids"), !command.contains("\\") else { return fail("the BTF command is not the one the recipe knows: \(command)") }
            btf = String(command)
        }
        guard (try? String(contentsOf: dir.appendingPathComponent("\(name).mod"), encoding: .utf8)) == modList(dir: dir, objects: objects) else {
            return fail("Kbuild's \(name).mod is not the object list the recipe writes")
        }
        guard let order = try? String(contentsOf: dir.appendingPathComponent("modules.order"), encoding: .utf8) else {
            return fail("Kbuild wrote no modules.order")
        }
        func generic(_ s: some StringProtocol) -> String {
            String(String(s).trimmingPrefix(while: { $0 == " " })).replacing(dir.path, with: dirToken).replacing(name, with: nameToken)
        }
        let all = commands.map(generic) + [generic(modpostLine), generic(order), generic(btf ?? "")]
        // Make's exports name the module's directory too (M, KBUILD_EXTMOD, obj, MODORDER, ...).
        environment = environment.mapValues { $0.replacing(dir.path, with: dirToken).replacing(name, with: nameToken) }
        if let stray = (all + environment.values).first(where: { $0.contains(work.path) }) {
            return fail("a Kbuild command names the build directory outside the module's: \(stray)")
        }
        return .success(PatchModuleLinkRecipe(key: key, compiles: Array(all[0..<2]), linkObject: all[2], modpost: all[5],
                                              compileModC: all[3], linkModule: all[4], modulesOrder: all[6],
                                              btf: btf == nil ? nil : all[7], commonObject: common, environment: environment))
    }

    /// The shell script that links module `name` in `dir` (its Kbuild directory, as
    /// `PatchModuleSources` wrote it, the shipped objects already copied to their `.o` names),
    /// run in the headers directory, each command under `set -e` as Kbuild runs it. A compile is
    /// followed by fixdep, as in Kbuild, for the command file modpost reads beside each object.
    func script(headers: URL, dir: URL, name: String) -> String {
        func fill(_ s: String) -> String { s.replacing(Self.dirToken, with: dir.path).replacing(Self.nameToken, with: name) }
        let step = { (command: String) in "( set -e; \(fill(command)) ) || exit 1" }
        let compileJobs = zip(compiles, Self.compiled).map { command, object in
            let o = "\(dir.path)/\(object)", dot = "\(dir.path)/.\(object)"
            return "( set -e; \(fill(command)); scripts/basic/fixdep \(quoted(dot + ".d")) \(quoted(o)) \(quoted(fill(command))) > \(quoted(dot + ".cmd.tmp")); "
                + "rm -f \(quoted(dot + ".d")); mv -f \(quoted(dot + ".cmd.tmp")) \(quoted(dot + ".cmd")) ) & pids=\"$pids $!\""
        }
        return (["cd \(quoted(headers.path)) || exit 1", "pids="]
            + compileJobs
            + ["for pid in $pids; do wait $pid || exit 1; done",
               step(linkObject), step(modpost), step(compileModC), step(linkModule)]
            + (btf.map { ["if [ -f vmlinux ]; then \(step($0)); fi"] } ?? [])).joined(separator: "\n")
    }

    private func quoted(_ s: String) -> String { "'" + s.replacing("'", with: #"'\''"#) + "'" }

    /// modules.order for module `name` in `dir`.
    func modulesOrder(dir: URL, name: String) -> String {
        modulesOrder.replacing(Self.dirToken, with: dir.path).replacing(Self.nameToken, with: name)
    }

    /// The environment the commands get for module `name` in `dir`.
    func environment(dir: URL, name: String) -> [String: String] {
        environment.mapValues { $0.replacing(Self.dirToken, with: dir.path).replacing(Self.nameToken, with: name) }
    }
}
