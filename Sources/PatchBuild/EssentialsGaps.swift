import FoundationEssentials
import Glibc

// What PatchBuild used from the full Foundation that FoundationEssentials lacks,
// over the standard library, so the binary links FoundationEssentials only.

extension Set where Element == Character {
    static let whitespaces: Set<Character> = [" ", "\t"]
}

/// A recursive directory listing (FileManager.enumerator is Foundation-only).
struct DirectoryEntry {
    let url: URL
    /// Path relative to the walk's root.
    let relativePath: String
    let isDirectory: Bool
    let isSymbolicLink: Bool
    var isRegularFile: Bool { !isDirectory && !isSymbolicLink }
}

enum DirectoryWalk {
    /// Every entry under `root`, parents before children, names sorted; symbolic
    /// links are listed, never followed; `descend` says whether to enter a directory.
    static func entries(under root: URL, descend: (DirectoryEntry) -> Bool = { _ in true }) throws -> [DirectoryEntry] {
        var result: [DirectoryEntry] = []
        func walk(_ dir: URL, _ prefix: String) throws {
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
                let url = dir.appendingPathComponent(name)
                var st = stat()
                guard lstat(url.path, &st) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                let entry = DirectoryEntry(url: url, relativePath: prefix + name, isDirectory: kind == S_IFDIR,
                                           isSymbolicLink: kind == S_IFLNK)
                result.append(entry)
                if entry.isDirectory && descend(entry) { try walk(url, entry.relativePath + "/") }
            }
        }
        try walk(root, "")
        return result
    }
}
