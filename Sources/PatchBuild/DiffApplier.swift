import FoundationEssentials
import PatchModel

/// Applies a source diff to the private copy with `patch -p1`, after a dry run,
/// so a diff that does not apply stops the build before anything is changed,
/// quoting the hunks patch rejected.
struct DiffApplier {
    let diff: SourceDiff
    let diffFile: URL

    /// Applies the diff to `tree`, a copy of `source` (named in errors), after a
    /// dry run.
    func apply(to tree: URL, copyOf source: URL) throws {
        try check(tree, copyOf: source)
        try CommandRunner.check(.patch, ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch",
                                         "-i", diffFile.path], in: tree)
    }

    /// A dry run: throws `diffDoesNotApply`, quoting the rejected hunks, unless the
    /// whole diff applies.
    func check(_ tree: URL, copyOf source: URL) throws {
        let dry = try CommandRunner.run(["patch", "-p1", "--dry-run", "--batch", "--forward", "-i", diffFile.path], in: tree)
        guard dry.status == 0 else {
            throw BuildError.diffDoesNotApply(file: source.path, rejected: rejectedHunks(in: dry.output),
                                              output: dry.output)
        }
    }

    /// patch reports `Hunk #N FAILED at L.` under `checking file F`; quote those
    /// hunks from the diff text.
    func rejectedHunks(in output: String) -> [String] {
        var file = ""
        var quoted: [String] = []
        for line in output.split(separator: "\n") {
            if line.hasPrefix("checking file ") { file = String(line.dropFirst("checking file ".count)) }
            if line.hasPrefix("can't find file to patch") { quoted.append("  (a file the diff names is missing)") }
            if line.hasPrefix("Reversed (or previously applied) patch detected") {
                quoted.append("  \(file): the diff looks already applied (or reversed)")
            }
            guard line.hasPrefix("Hunk #"), line.contains("FAILED"),
                  let number = Int(line.dropFirst(6).prefix { $0.isNumber }) else { continue }
            quoted.append("  \(file), hunk #\(number):")
            quoted.append(contentsOf: hunk(number, of: file).map { "    " + $0 })
        }
        return quoted
    }

    private func hunk(_ number: Int, of file: String) -> [String] {
        var inFile = false, index = 0
        var lines: [String] = []
        for line in diff.text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("+++ ") { inFile = line.dropFirst(4).split(separator: "\t").first?.hasSuffix("/" + file) ?? false; continue }
            guard inFile else { continue }
            if line.hasPrefix("@@ ") {
                index += 1
                if index > number { break }
            }
            if index == number { lines.append(String(line)) }
        }
        return lines
    }
}

extension SourceDiff {
    /// Reads and parses a diff file; a missing file is a BuildError naming it.
    static func read(_ url: URL) throws -> SourceDiff {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BuildError.missingInput(what: "diff", path: url.path)
        }
        return try SourceDiff(text: String(contentsOf: url, encoding: .utf8), origin: url.path)
    }
}
