/// Which source files include which, from the `#include` lines of a kernel tree,
/// to find every `.c` file a changed header (or an included `.c` file) reaches. Preprocessor conditionals are
/// ignored, so the answer over-approximates: objects that turn out not to change
/// are dropped later by the differ, objects outside the configuration by Kbuild.
public struct IncludeGraph: Sendable {
    /// file -> files that include it (paths relative to the tree).
    private var includers: [String: Set<String>] = [:]

    /// Directories `<...>` includes are looked up in, as Kbuild passes them for x86.
    public static let systemIncludeDirs = ["include", "arch/x86/include", "include/uapi", "arch/x86/include/uapi",
                                          "arch/x86/include/generated", "include/generated"]

    /// `lines` are `path:#include <x>` or `path:#include "x"` (grep's output over
    /// the tree, paths relative to it, optionally starting with `./`); `exists`
    /// tells whether a relative path is a file of the tree.
    public init(grepLines lines: some Sequence<Substring>, exists: (String) -> Bool) {
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            var file = String(line[..<colon])
            if file.hasPrefix("./") { file.removeFirst(2) }
            let directive = line[line.index(after: colon)...]
            guard let (name, quoted) = Self.includedName(directive) else { continue }
            for target in Self.candidates(name, quoted: quoted, from: file) where exists(target) {
                includers[target, default: []].insert(file)
                break
            }
        }
    }

    /// Every `.c` file that includes `file` (a header, or a `.c` file other `.c`
    /// files include, as kernel/sched's unity builds do), directly or through
    /// other files.
    public func sourceFiles(reaching file: String) -> [String] {
        includers(reaching: file).filter { $0.hasSuffix(".c") }
    }

    /// `edges` are `includer<TAB>included` lines, as `edgeLines` writes them:
    /// the resolved graph, loaded without looking at the tree again.
    public init(edgeLines lines: some Sequence<Substring>) {
        for line in lines {
            guard let tab = line.firstIndex(of: "\t") else { continue }
            includers[String(line[line.index(after: tab)...]), default: []].insert(String(line[..<tab]))
        }
    }

    /// The resolved graph as `includer<TAB>included` lines, sorted.
    public var edgeLines: [String] {
        includers.flatMap { target, files in files.map { "\($0)\t\(target)" } }.sorted()
    }

    /// Whether another file of the tree includes `file`.
    public func isIncluded(_ file: String) -> Bool { !(includers[file]?.isEmpty ?? true) }

    /// Every file that includes `file`, directly or through other files, sorted.
    public func includers(reaching file: String) -> [String] {
        var seen: Set<String> = [file]
        var queue = [file]
        var result: Set<String> = []
        while let next = queue.popLast() {
            for includer in includers[next] ?? [] where seen.insert(includer).inserted {
                result.insert(includer)
                queue.append(includer)
            }
        }
        return result.sorted()
    }

    /// `#include <a/b.h>` -> ("a/b.h", false); `# include "x.h"` -> ("x.h", true).
    static func includedName(_ directive: Substring) -> (String, Bool)? {
        let text = directive.drop { $0 == " " || $0 == "\t" }
        guard text.hasPrefix("#") else { return nil }
        let rest = text.dropFirst().drop { $0 == " " || $0 == "\t" }
        guard rest.hasPrefix("include") else { return nil }
        let arg = rest.dropFirst("include".count).drop { $0 == " " || $0 == "\t" }
        guard let open = arg.first, open == "<" || open == "\"" else { return nil }
        let close: Character = open == "<" ? ">" : "\""
        let body = arg.dropFirst()
        guard let end = body.firstIndex(of: close) else { return nil }
        return (String(body[..<end]), open == "\"")
    }

    /// Where an include may resolve: beside the including file for quoted ones,
    /// then the system include directories.
    static func candidates(_ name: String, quoted: Bool, from file: String) -> [String] {
        var result: [String] = []
        if quoted {
            let dir = file.split(separator: "/").dropLast().joined(separator: "/")
            result.append(normalize(dir.isEmpty ? name : dir + "/" + name))
        }
        result += systemIncludeDirs.map { normalize($0 + "/" + name) }
        return result
    }

    /// Resolves `.` and `..` components.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == "..", !parts.isEmpty { parts.removeLast(); continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }
}
