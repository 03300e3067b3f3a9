import FoundationEssentials

/// The command file Kbuild writes beside each object it compiles (`dir/.x.o.cmd`):
/// the command line, the dependencies, and under CONFIG_MODVERSIONS one
/// `#SYMVER <name> <crc>` line per symbol the object exports (genksyms' CRC of its
/// type), which modpost turns into the module's CRC table and Module.symvers.
struct KbuildCommandFile {
    let url: URL

    /// The command file of `object` (`a/b/x.o` -> `a/b/.x.o.cmd`).
    init(object: URL) {
        url = object.deletingLastPathComponent().appendingPathComponent(".\(object.lastPathComponent).cmd")
    }

    /// The command file of `object`, a path relative to `dir`.
    init(object: String, in dir: URL) {
        self.init(object: dir.appendingPathComponent(object))
    }

    var exists: Bool { FileManager.default.fileExists(atPath: url.path) }

    /// The command Kbuild ran for the object (`cmd_x.o := ...`, `savedcmd_x.o := ...` from
    /// 6.3 on), as `sh -c` runs it from the tree's top directory; nil when the file is
    /// missing or has no such line.
    func commandLine() throws -> String? {
        guard exists else { return nil }
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cmd_") || $0.hasPrefix("savedcmd_") }),
              let assign = line.firstRange(of: " := ") else { return nil }
        return String(line[assign.upperBound...])
    }

    /// The `#SYMVER` lines as Kbuild wrote them; none when the file is missing or
    /// the object exports nothing (or the kernel has no CONFIG_MODVERSIONS).
    func symbolVersionLines() throws -> [String] {
        guard exists else { return [] }
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").filter { $0.hasPrefix("#SYMVER ") }.map(String.init)
    }
}
