import FoundationEssentials
import Glibc

/// apt, configured for one archive suite in a directory of its own: its sources.list
/// (the suite, with its base release's updates and security suites, signed by Debian's
/// keyring), lists and cache there, no dpkg status. The host's apt configuration is never
/// read for sources nor written.
struct PrivateApt {
    let dir: URL
    let suite: String
    let distribution: String

    static let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

    var options: [String] {
        ["-o", "Dir::Etc::sourcelist=\(dir.appendingPathComponent("sources.list").path)", "-o", "Dir::Etc::sourceparts=-",
         "-o", "Dir::State::Lists=\(dir.appendingPathComponent("lists").path)", "-o", "Dir::Cache=\(dir.appendingPathComponent("cache").path)",
         "-o", "Dir::State::status=/dev/null", "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1",
         "-o", "APT::Sandbox::User=root"]
    }

    var sourcesList: String {
        var lines = [("debian", distribution), ("debian", "\(distribution)-updates"), ("debian-security", "\(distribution)-security")]
        if suite != distribution { lines.append(("debian", suite)) }
        return lines.map { "deb [signed-by=\(Self.keyring)] http://deb.debian.org/\($0.0) \($0.1) main\n" }.joined()
    }

    /// Writes the configuration and refreshes the lists when they are missing, older than a
    /// day, or were made from another sources.list.
    func configure(note: (String) -> Void) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: Self.keyring) else {
            throw BuildError.missingInput(what: "Debian's archive keyring (apt-get install debian-archive-keyring)", path: Self.keyring)
        }
        for sub in ["lists/partial", "cache/archives/partial"] {
            try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let list = dir.appendingPathComponent("sources.list"), updated = dir.appendingPathComponent("updated")
        let written = fm.fileExists(atPath: list.path) ? try String(contentsOf: list, encoding: .utf8) : nil
        if written != sourcesList {
            try sourcesList.write(to: list, atomically: true, encoding: .utf8)
            if fm.fileExists(atPath: updated.path) { try fm.removeItem(at: updated) }
        }
        let modified = fm.fileExists(atPath: updated.path) ? try fm.attributesOfItem(atPath: updated.path)[.modificationDate] as? Date : nil
        let stale = modified.map { Date().timeIntervalSince($0) > 86400 } ?? true
        if stale { try update(note: note) }
    }

    func update(note: (String) -> Void) throws {
        note("apt-get update (\(suite), private lists in \(dir.path))")
        try CommandRunner.check(.prepare, ["apt-get"] + options + ["update", "-qq"])
        try Data().write(to: dir.appendingPathComponent("updated"))
    }

    /// The version of `package` to fetch: `pinned` when the archive has it, else its
    /// candidate; the lists are refreshed once before the release is declared missing.
    func version(of package: String, pinned: String?, release: String, note: (String) -> Void) throws -> String {
        for attempt in 0..<2 {
            if attempt == 1 { try update(note: note) }
            let versions = try CommandRunner.run(["apt-cache"] + options + ["madison", package]).output
                .split(separator: "\n").compactMap { line -> String? in
                    let fields = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                    return fields.count >= 2 && fields[0] == package ? fields[1] : nil
                }
            if let pinned, versions.contains(pinned) { return pinned }
            if pinned == nil, let policy = try candidate(package) { return policy }
        }
        throw BuildError.notInArchive(release: release, package: package + (pinned.map { "=\($0)" } ?? ""), suite: suite)
    }

    private func candidate(_ package: String) throws -> String? {
        let policy = try CommandRunner.run(["apt-cache"] + options + ["policy", package]).output
        guard let line = policy.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("Candidate:") }) else { return nil }
        let value = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        return value == "(none)" || value.isEmpty ? nil : value
    }

    /// The package names of `package=version`'s Depends (first alternative of each).
    func dependencies(of package: String, version: String) throws -> [String] {
        let show = try CommandRunner.check(.prepare, ["apt-cache"] + options + ["show", "\(package)=\(version)"])
        guard let depends = show.split(separator: "\n").first(where: { $0.hasPrefix("Depends: ") }) else { return [] }
        return depends.dropFirst("Depends: ".count).split(separator: ",").compactMap { entry in
            entry.trimmingCharacters(in: .whitespaces).split(whereSeparator: { $0 == " " || $0 == "(" || $0 == "|" }).first.map(String.init)
        }
    }

    /// `package=version`'s .deb in `downloads`, downloaded unless it is there.
    func download(_ package: String, version: String, into downloads: URL, note: (String) -> Void) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: downloads, withIntermediateDirectories: true)
        let prefix = "\(package)_\(version.replacing(":", with: "%3a"))_"
        func found() throws -> URL? {
            try fm.contentsOfDirectory(atPath: downloads.path).sorted()
                .first { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }.map { downloads.appendingPathComponent($0) }
        }
        if let deb = try found() { return deb }
        note("downloading \(package)=\(version) from \(suite)")
        let start = Date()
        // Into a directory of its own, moved in when complete: an interrupted download is never reused.
        let partial = downloads.appendingPathComponent(".partial-\(ProcessInfo.processInfo.processIdentifier)")
        if fm.fileExists(atPath: partial.path) { try fm.removeItem(at: partial) }
        try fm.createDirectory(at: partial, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: partial) }
        try CommandRunner.check(.prepare, ["apt-get"] + options + ["download", "-qq", "\(package)=\(version)"], in: partial)
        for name in try fm.contentsOfDirectory(atPath: partial.path) where name.hasPrefix(prefix) && name.hasSuffix(".deb") {
            try fm.moveItem(at: partial.appendingPathComponent(name), to: downloads.appendingPathComponent(name))
        }
        guard let deb = try found() else {
            throw BuildError.missingInput(what: "the download of \(package)=\(version)", path: downloads.appendingPathComponent(prefix + "*.deb").path)
        }
        var info = stat()
        let size = stat(deb.path, &info) == 0 ? Int(info.st_size) / 1_048_576 : 0
        note("\(deb.lastPathComponent): \(size) MB in \(Int(Date().timeIntervalSince(start))) s")
        return deb
    }
}
