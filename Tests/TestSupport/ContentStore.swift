import Foundation
import PatchModel

/// Build products that every test process of a run shares (scripts/test-classes runs each
/// class in a process of its own): kept in the test bed under `<area>/<name>-<key>`, the key
/// a SHA-256 of everything that decides them, so an edited input (or a rebuilt kpatchctl)
/// gets a new entry. An entry is built in a directory of its own and renamed into place
/// once its `complete` mark is written: an interrupted or concurrent build never leaves
/// half an entry where another process would take it. Within a process, each entry is
/// made once (a failure too: it is not retried).
public final class ContentStore: @unchecked Sendable {
    public static let shared = ContentStore()

    private let lock = NSLock()
    private var entries: [String: Result<URL, Error>] = [:]
    private var fileDigests: [String: String] = [:]

    /// The directory of entry `name` for `key` under `area`, made by `build` (which fills
    /// the directory it is given) when no process made it before.
    public func entry(_ area: String, name: String, key: ContentKey, bed: TestBed = .shared,
                      build: (URL) throws -> Void) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        let done = bed.cache.appendingPathComponent(area).appendingPathComponent("\(name)-\(key.value)")
        if let made = entries[done.path] { return try made.get() }
        let made = Result { try Self.make(done, build: build) }
        entries[done.path] = made
        return try made.get()
    }

    private static func make(_ done: URL, build: (URL) throws -> Void) throws -> URL {
        let fm = FileManager.default
        if fm.fileExists(atPath: done.appendingPathComponent("complete").path) { return done }
        let work = URL(fileURLWithPath: done.path + ".building-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: work)
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: work) }
        try build(work)
        try Data().write(to: work.appendingPathComponent("complete"))
        // Another process may have finished the same key first: its entry is as good.
        if rename(work.path, done.path) != 0 && !fm.fileExists(atPath: done.appendingPathComponent("complete").path) {
            throw TestBedError.commandFailed("cannot move \(work.path) to \(done.path): errno \(errno)", 1, "")
        }
        return done
    }

    /// SHA-256 of a file, once per process (the release kpatchctl: ~60 MB).
    func digest(of file: URL) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let known = fileDigests[file.path] { return known }
        let hasher = SHA256()
        hasher.update(data: try Data(contentsOf: file))
        let value = hexString(hasher.finalize())
        fileDigests[file.path] = value
        return value
    }
}

/// What decides a `ContentStore` entry, hashed; nothing is added once `value` was read.
public final class ContentKey {
    private let hasher = SHA256()
    private var digest: String?

    public init(_ label: String) { add(label) }

    public func add(_ text: String) {
        precondition(digest == nil, "ContentKey: added to after its value was read")
        hasher.update(data: Data("\(text)\n".utf8))
    }

    /// A file's name and bytes.
    public func add(file: URL, as name: String? = nil) throws {
        add("\u{0}\(name ?? file.lastPathComponent)\u{0}")
        precondition(digest == nil, "ContentKey: added to after its value was read")
        hasher.update(data: try Data(contentsOf: file))
    }

    /// Every file below `tree`, by its relative path, in order.
    public func add(tree: URL) throws {
        add(tree.lastPathComponent)
        let fm = FileManager.default
        for name in try fm.subpathsOfDirectory(atPath: tree.path).sorted() {
            let file = tree.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: file.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            try add(file: file, as: name)
        }
    }

    /// The release kpatchctl the build runs and the kernel it builds for.
    public func addKpatchctl(bed: TestBed = .shared) throws {
        add("kpatchctl \(try ContentStore.shared.digest(of: bed.releaseBinary))")
        add("kernel \(bed.kernelRelease) \(bed.headers.path)")
    }

    public var value: String {
        if let digest { return digest }
        let value = hexString(hasher.finalize().prefix(8))
        digest = value
        return value
    }
}
