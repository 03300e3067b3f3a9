import CElf
import FoundationEssentials

/// The source files a binary was compiled from: the `DW_AT_name` of each DWARF
/// compilation unit (`fs/proc/cmdline.c`), which is how the builder tells a file
/// the configuration builds from one it does not, before compiling anything.
/// A file `#include`d by another `.c` (kernel/sched/deadline.c) has no unit of
/// its own; its includer's unit stands for it.
public struct CompilationUnits: Sendable {
    /// Unit names relative to the source tree; absolute ones (assembly units
    /// carry the build directory) are kept whole and matched by suffix.
    public let relative: Set<String>
    private let absolute: [String]

    public init(names: [String]) {
        var relative: Set<String> = [], absolute: [String] = []
        for name in names where !name.isEmpty {
            if name.hasPrefix("/") { absolute.append(name) } else {
                relative.insert(name.hasPrefix("./") ? String(name.dropFirst(2)) : name)
            }
        }
        self.relative = relative
        self.absolute = absolute
    }

    /// Whether `path` (relative to the source tree) is one of the units.
    public func contains(_ path: String) -> Bool {
        relative.contains(path) || absolute.contains { $0.hasSuffix("/" + path) }
    }

    public var count: Int { relative.count + absolute.count }

    /// The unit names of `path`'s DWARF.
    public static func read(path: String) throws -> CompilationUnits {
        let file = try DwarfFile(path: path)
        var names: [String] = []
        for offset in file.unitOffsets() {
            var die = Dwarf_Die()
            guard dwarf_offdie(file.dwarf, offset, &die) != nil, let name = dwarf_diename(&die) else { continue }
            names.append(String(cString: name))
        }
        return CompilationUnits(names: names)
    }

    /// The units of `path`, cached as text per build id in `cacheDirectory`
    /// (`units-<build id>.txt`, like the call graph's cache). A file without a
    /// build id is read every time.
    public static func cached(path: String, cacheDirectory: URL) throws -> CompilationUnits {
        guard let buildID = try ELFBuildID.read(path: path) else { return try read(path: path) }
        let file = cacheDirectory.appendingPathComponent("units-\(buildID).txt")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            return CompilationUnits(names: text.split(separator: "\n").map(String.init))
        }
        let units = try read(path: path)
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        try (units.relative.sorted() + units.absolute).joined(separator: "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        return units
    }
}
