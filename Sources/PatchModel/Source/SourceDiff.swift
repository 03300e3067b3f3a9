
/// A unified diff as the builder needs it: which files it touches (paths with the
/// first component stripped, as `patch -p1` applies them), and its SHA-256.
public struct SourceDiff: Sendable {
    public enum Change: Equatable, Sendable {
        case modified(String)
        case added(String)
        case removed(String)

        public var path: String {
            switch self { case .modified(let p), .added(let p), .removed(let p): return p }
        }
    }

    public let text: String
    public let changes: [Change]
    /// Lower-case hex SHA-256 of the diff's bytes.
    public let sha256: String

    public var touchedPaths: [String] { changes.map(\.path) }

    public init(text: String, origin: String = "diff") throws {
        self.text = text
        sha256 = hexString(SHA256.hash(data: Array(text.utf8)))
        changes = try Self.parseHeaders(text, origin: origin)
    }

    /// Reads the `--- a/x` / `+++ b/x` header pairs; every file must carry hunks.
    private static func parseHeaders(_ text: String, origin: String) throws -> [Change] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var changes: [Change] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.hasPrefix("GIT binary patch") || (line.hasPrefix("Binary files ") && line.hasSuffix(" differ")) {
                throw SourceDiffError.binary(origin: origin, line: i + 1)
            }
            guard line.hasPrefix("--- "), i + 1 < lines.count, lines[i + 1].hasPrefix("+++ ") else {
                i += 1
                continue
            }
            let old = try headerPath(line.dropFirst(4), origin: origin, line: i + 1)
            let new = try headerPath(lines[i + 1].dropFirst(4), origin: origin, line: i + 2)
            guard i + 2 < lines.count, lines[i + 2].hasPrefix("@@ ") else {
                throw SourceDiffError.noHunks(origin: origin, file: new ?? old ?? "?", line: i + 1)
            }
            switch (old, new) {
            case (nil, let n?): changes.append(.added(n))
            case (let o?, nil): changes.append(.removed(o))
            case (let o?, let n?):
                guard o == n else { throw SourceDiffError.rename(origin: origin, from: o, to: n) }
                changes.append(.modified(n))
            case (nil, nil): throw SourceDiffError.malformed(origin: origin, line: i + 1, why: "both sides are /dev/null")
            }
            i += 2
        }
        guard !changes.isEmpty else { throw SourceDiffError.empty(origin: origin) }
        return changes
    }

    /// `a/dir/file.c<TAB>date` -> `dir/file.c`; `/dev/null` -> nil.
    private static func headerPath(_ field: Substring, origin: String, line: Int) throws -> String? {
        let path = field.split(separator: "\t", maxSplits: 1).first.map(String.init) ?? ""
        if path == "/dev/null" { return nil }
        guard let slash = path.firstIndex(of: "/") else {
            throw SourceDiffError.malformed(origin: origin, line: line,
                                            why: "'\(path)' has no leading directory to strip (the builder applies diffs with patch -p1)")
        }
        let stripped = String(path[path.index(after: slash)...])
        guard !stripped.isEmpty, !stripped.split(separator: "/").contains("..") else {
            throw SourceDiffError.malformed(origin: origin, line: line, why: "unsafe path '\(path)'")
        }
        return stripped
    }
}

public enum SourceDiffError: Error, Equatable, CustomStringConvertible {
    case empty(origin: String)
    case binary(origin: String, line: Int)
    case noHunks(origin: String, file: String, line: Int)
    case rename(origin: String, from: String, to: String)
    case malformed(origin: String, line: Int, why: String)

    public var description: String {
        switch self {
        case .empty(let o):
            return "\(o): not a unified diff (no '--- a/...' / '+++ b/...' file headers)"
        case .binary(let o, let line):
            return "\(o):\(line): binary diffs cannot be built into a patch"
        case .noHunks(let o, let file, let line):
            return "\(o):\(line): \(file) has a header but no hunks"
        case .rename(let o, let from, let to):
            return "\(o): renames (\(from) -> \(to)) are not supported: a live patch changes code, not file names"
        case .malformed(let o, let line, let why):
            return "\(o):\(line): \(why)"
        }
    }
}
