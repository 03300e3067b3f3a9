import FoundationEssentials

/// An out-of-tree module's source directory and the Kbuild runs over a private
/// copy of it. The user's directory is only ever read.
struct ModuleTree {
    let dir: URL
    let kernel: TargetKernel
    /// The author header directory (kmod/include), given to the patched build only (the
    /// original source never includes it), through gcc's CPATH: Kbuild does not record it,
    /// so the two builds' recorded commands differ only in the tree's path.
    var authorInclude: URL? = nil

    /// Flags both builds get: one section per function and object, and __FILE__
    /// relative to the tree so the original and patched builds (in different
    /// directories) produce the same strings.
    func kcflags() -> String {
        "-ffunction-sections -fdata-sections -fmacro-prefix-map=\(dir.path)/="
    }

    private var environment: [String: String] { authorInclude.map { ["CPATH": $0.path] } ?? [:] }

    /// Copies the source files of `source` into `dir`, leaving build products behind.
    static func copySources(from source: URL, to dir: URL) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: source.path) else {
            throw BuildError.missingInput(what: "module source directory", path: source.path)
        }
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        for entry in try DirectoryWalk.entries(under: source, descend: { !$0.url.lastPathComponent.hasPrefix(".") }) {
            let rel = entry.relativePath
            if entry.isDirectory {
                if entry.url.lastPathComponent.hasPrefix(".") { continue }
                try fm.createDirectory(at: dir.appendingPathComponent(rel), withIntermediateDirectories: true)
            } else if !isBuildProduct(entry.url.lastPathComponent) {
                try fm.copyItem(at: entry.url, to: dir.appendingPathComponent(rel))
            }
        }
    }

    static func isBuildProduct(_ name: String) -> Bool {
        if name.hasPrefix(".") && (name.hasSuffix(".cmd") || name.hasSuffix(".d")) { return true }
        if ["modules.order", "Module.symvers"].contains(name) { return true }
        return [".o", ".ko", ".mod", ".mod.c", ".a", ".orig", ".rej"].contains { name.hasSuffix($0) }
    }

    private func make(_ stage: BuildStage, _ targets: [String]) throws {
        try CommandRunner.check(stage, kernel.toolchain.command(["make", "-s", "-C", kernel.headers.path, "M=\(dir.path)",
                                                                 "KCFLAGS=\(kcflags())"] + targets), environment: environment)
    }

    /// A full Kbuild of the tree's modules.
    func buildModules() throws { try make(.originalBuild, ["modules"]) }

    /// Rebuilds only `objects` (paths relative to the tree). `original`, a Kbuild of the same
    /// module at another path, recorded how each object compiles: those commands run with
    /// this tree's path instead of make (`KbuildRecordedCommands`; same bytes:
    /// `DirectCompileTests`). make builds the objects it has no command for (a new file),
    /// more objects than cores, and those that export symbols (their CRCs).
    /// Returns whether the recorded commands were used.
    @discardableResult
    func buildObjects(_ objects: [String], recordedIn original: ModuleTree? = nil) throws -> Bool {
        guard let original, let recorded = try KbuildRecordedCommands.commands(for: objects, in: original.dir),
              let script = KbuildRecordedCommands.script(recorded.map { $0.replacing(original.dir.path + "/", with: dir.path + "/") },
                                                         from: kernel.headers) else {
            try make(.rebuild, objects)
            return false
        }
        try CommandRunner.check(.rebuild, kernel.toolchain.command(["sh", "-c", script]),
                                environment: KbuildRecordedCommands.environment(environment))
        let exporting = try KbuildRecordedCommands.removeExporters(objects, in: dir)
        if !exporting.isEmpty { try make(.rebuild, exporting) }
        return true
    }

    /// module name -> its objects (relative paths), from the `<module>.mod` files
    /// Kbuild writes.
    func modules() throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        let base = dir.standardizedFileURL.path
        for url in try DirectoryWalk.entries(under: dir).map(\.url) where url.pathExtension == "mod" {
            let text = try String(contentsOf: url, encoding: .utf8)
            let objects = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).map { path -> String in
                let p = String(path)
                return p.hasPrefix(base + "/") ? String(p.dropFirst(base.count + 1)) : p
            }
            result[url.deletingPathExtension().lastPathComponent] = objects
        }
        guard !result.isEmpty else { throw BuildError.noModule(dir: dir.path) }
        return result
    }

    /// The objects to rebuild for a set of changed source paths: `x.c` -> `x.o`
    /// when that object is built; a header -> every object whose Kbuild
    /// dependency list (`.x.o.cmd`) names it.
    func objects(affectedBy paths: [String], builtObjects: Set<String>) throws -> [String] {
        var result: Set<String> = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            switch url.pathExtension {
            case "c":
                let object = String(path.dropLast(2)) + ".o"
                if builtObjects.contains(object) { result.insert(object) }
            default:
                let absolute = dir.appendingPathComponent(path).standardizedFileURL.path
                for object in builtObjects where try dependencies(of: object).contains(absolute) {
                    result.insert(object)
                }
            }
        }
        return result.sorted()
    }

    /// The files Kbuild recorded as dependencies of `object`.
    private func dependencies(of object: String) throws -> Set<String> {
        guard let text = try? String(contentsOf: KbuildCommandFile(object: object, in: dir).url, encoding: .utf8) else { return [] }
        var deps: Set<String> = []
        var inDeps = false
        for line in text.split(separator: "\n") {
            if line.hasPrefix("deps_") { inDeps = true; continue }
            guard inDeps else { continue }
            let entry = line.trimmingCharacters(in: .whitespaces).replacing(" \\", with: "")
            if entry.isEmpty || entry.hasPrefix("$(wildcard") { continue }
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") { inDeps = false; continue }
            deps.insert(URL(fileURLWithPath: entry, relativeTo: dir).standardizedFileURL.path)
        }
        return deps
    }
}
