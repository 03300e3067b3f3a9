import FoundationEssentials
import PatchModel

/// Running the commands Kbuild recorded for objects (`.x.o.cmd`: the compiler, and objtool
/// where the kernel runs it per object) instead of make. For a few objects this skips
/// Kbuild's start-up (about 0.8 s of CPU for an out-of-tree module, seconds in the kernel
/// tree) and gives the same bytes (`DirectCompileTests`). An object that exports symbols
/// also needs genksyms' CRCs (`#SYMVER` in its `.cmd`), which only Kbuild's rule writes:
/// callers give those to make again.
enum KbuildRecordedCommands {
    /// `base` with what the commands read from the environment Kbuild exports: Debian 13's
    /// `tools/objtool/objtool` is a wrapper that runs `objtool.real-$SRCARCH` (x86: the
    /// amd64 kernels kpatchctl targets).
    static func environment(_ base: [String: String]) -> [String: String] {
        base.merging(["SRCARCH": "x86"]) { $1 }
    }

    /// A script that runs `commands` from `directory` (the directory make ran them from),
    /// all at once, and fails when one fails; nil when there are more than cores, or none.
    static func script(_ commands: [String], from directory: URL) -> String? {
        guard !commands.isEmpty, commands.count <= ProcessInfo.processInfo.activeProcessorCount else { return nil }
        let jobs = commands.map { "( \($0) ) & pids=\"$pids $!\"" }
        return (["cd \(shellQuoted(directory.path)) || exit 1", "pids="] + jobs
                + ["status=0", "for pid in $pids; do wait $pid || status=1; done", "exit $status"]).joined(separator: "\n")
    }

    /// The recorded command of each object (paths relative to `dir`), nil when one has none.
    static func commands(for objects: [String], in dir: URL) throws -> [String]? {
        var commands: [String] = []
        for object in objects {
            guard let command = try KbuildCommandFile(object: object, in: dir).commandLine() else { return nil }
            commands.append(command)
        }
        return commands
    }

    /// The objects (paths relative to `dir`) a recorded command compiled that export symbols,
    /// removed from `dir`: make compiles them again, for their CRCs.
    static func removeExporters(_ objects: [String], in dir: URL) throws -> [String] {
        let exporting = try objects.filter { try exportsSymbols(dir.appendingPathComponent($0)) }
        for object in exporting { try FileManager.default.removeItem(at: dir.appendingPathComponent(object)) }
        return exporting
    }

    /// Whether an object exports symbols, as Kbuild's genksyms step tests it: `__ksymtab_*`
    /// symbols (6.1), `__export_symbol_*` (6.5 on).
    static func exportsSymbols(_ object: URL) throws -> Bool {
        try ELFObject(url: object, allowedTypes: [.relocatable]).symbols().contains {
            $0.name.hasPrefix("__ksymtab_") || $0.name.hasPrefix("__export_symbol_")
        }
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacing("'", with: #"'\''"#) + "'" }
}
