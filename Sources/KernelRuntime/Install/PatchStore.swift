import Glibc
import PatchModel

/// Why install or uninstall refused. Nothing in the store changed.
public enum PatchStoreError: Error, CustomStringConvertible {
    case badModule(path: String, reason: String)
    case noMetadata(path: String)
    case wrongRelease(path: String, patchRelease: String, release: String)
    case identity(path: String, mismatches: [PatchIdentityCheck.Mismatch])
    case duplicate(name: String, release: String)
    case notInstalled(name: String, release: String, installed: [String])
    case unreadableRecord(path: String, reason: String)
    case io(KernelFileError)

    public var description: String {
        switch self {
        case .badModule(let path, let reason):
            return "\(path) is not a usable livepatch module: \(reason); nothing was installed"
        case .noMetadata(let path):
            return "\(path) carries no kpatchctl metadata, so its target release cannot be checked: build it with kpatchctl build; nothing was installed"
        case .wrongRelease(let path, let patchRelease, let release):
            return "\(path) was built for \(patchRelease), not \(release): install it with --kernel \(patchRelease), or rebuild it with --kernel \(release); nothing was installed"
        case .identity(let path, let mismatches):
            return "\(path) does not match this system:\n  " + mismatches.map(\.description).joined(separator: "\n  ")
                + "\nnothing was installed"
        case .duplicate(let name, let release):
            return "a patch named \(name) is already installed for \(release): uninstall it first (kpatchctl uninstall \(name)), or build the new one under another name; nothing was installed"
        case .notInstalled(let name, let release, let installed):
            let list = installed.isEmpty ? "none is installed" : "installed: \(installed.joined(separator: ", "))"
            return "no patch named \(name) is installed for \(release) (\(list)); see kpatchctl list --installed"
        case .unreadableRecord(let path, let reason):
            return "the install record \(path) is unreadable (\(reason)): remove it and its .ko, then install the patch again"
        case .io(let e):
            return "\(e); nothing was changed"
        }
    }
}

/// The installed patches, one directory per kernel release:
/// `<root>/<release>/<name>.ko` and its record `<name>.json`.
public struct PatchStore: Sendable {
    public static let defaultRoot = "/var/lib/kpatchctl"
    /// The environment variable that overrides `defaultRoot`.
    public static let environmentVariable = "KPATCHCTL_STATE_DIR"
    public let root: String

    public init(root: String) { self.root = root }

    /// `--state-dir`, else $KPATCHCTL_STATE_DIR, else /var/lib/kpatchctl.
    public init(option: String?) {
        if let option {
            root = option
        } else if let value = getenv(PatchStore.environmentVariable), !String(cString: value).isEmpty {
            root = String(cString: value)
        } else {
            root = PatchStore.defaultRoot
        }
    }

    public func directory(_ release: String) -> String { "\(root)/\(release)" }
    public func modulePath(_ patch: InstalledPatch) -> String { "\(directory(patch.release))/\(patch.name).ko" }
    func recordPath(name: String, release: String) -> String { "\(directory(release))/\(name).json" }

    /// Checks `path` against `release` and stores it. `system` (the running
    /// kernel, when `release` is the running release) adds the full identity check.
    @discardableResult
    public func install(path: String, release: String, system: RunningKernelIdentity?) throws -> InstalledPatch {
        let module: KernelModuleFile
        do { module = try KernelModuleFile(path: path) } catch {
            throw PatchStoreError.badModule(path: path, reason: "\(error)")
        }
        guard let name = module.name else { throw PatchStoreError.badModule(path: path, reason: "no name= in .modinfo") }
        guard module.isLivepatch else { throw PatchStoreError.badModule(path: path, reason: "no livepatch=Y in .modinfo") }
        let meta: PatchMetadata
        do { meta = try module.patchMetadata() } catch PatchMetadataError.noMetadataSection {
            throw PatchStoreError.noMetadata(path: path)
        } catch {
            throw PatchStoreError.badModule(path: path, reason: "\(error)")
        }
        guard meta.kernelRelease == release else {
            throw PatchStoreError.wrongRelease(path: path, patchRelease: meta.kernelRelease, release: release)
        }
        if module.vermagic != meta.vermagic {
            throw PatchStoreError.badModule(path: path, reason: "its modinfo vermagic \"\(module.vermagic ?? "")\" differs from its metadata's \"\(meta.vermagic)\"")
        }
        if let system {
            let mismatches = PatchIdentityCheck.check(meta, against: system).mismatches
            if !mismatches.isEmpty { throw PatchStoreError.identity(path: path, mismatches: mismatches) }
        }
        let existing = try installed(release: release)
        if existing.contains(where: { $0.name == name }) { throw PatchStoreError.duplicate(name: name, release: release) }
        let bytes: [UInt8]
        do { bytes = try KernelFile.readBytes(path) } catch let e as KernelFileError { throw PatchStoreError.io(e) }

        let patch = InstalledPatch(name: name, release: release, sequence: (existing.map(\.sequence).max() ?? 0) + 1,
                                   installedAt: KernelFile.wallNow(), installedFrom: path, metadata: meta)
        let record = recordPath(name: name, release: release)
        do {
            try StateFile.makeDirectories(directory(release))
            try StateFile.replace(modulePath(patch), with: bytes)
            do {
                try StateFile.replace(record, with: try JSONCoding.string(patch))
            } catch {
                unlink(modulePath(patch))
                throw error
            }
        } catch let e as KernelFileError {
            throw PatchStoreError.io(e)
        }
        return patch
    }

    /// Removes `name` from `release`'s patches (the record first, then the module).
    @discardableResult
    public func uninstall(name: String, release: String) throws -> InstalledPatch {
        let patches = try installed(release: release)
        guard let patch = patches.first(where: { $0.name == name }) else {
            throw PatchStoreError.notInstalled(name: name, release: release, installed: patches.map(\.name))
        }
        let record = recordPath(name: name, release: release)
        guard unlink(record) == 0 else { throw PatchStoreError.io(KernelFileError(path: record, operation: "unlink", errno: errno)) }
        if unlink(modulePath(patch)) != 0 && errno != ENOENT {
            throw PatchStoreError.io(KernelFileError(path: modulePath(patch), operation: "unlink", errno: errno))
        }
        return patch
    }

    /// The releases that have a directory in the store.
    public func releases() throws -> [String] {
        guard KernelFile.isDirectory(root) else { return [] }
        do {
            return try KernelFile.list(root).filter { KernelFile.isDirectory("\(root)/\($0)") }.sorted()
        } catch let e as KernelFileError { throw PatchStoreError.io(e) }
    }

    /// `release`'s patches in install order.
    public func installed(release: String) throws -> [InstalledPatch] {
        let dir = directory(release)
        guard KernelFile.isDirectory(dir) else { return [] }
        let names: [String]
        do { names = try KernelFile.list(dir) } catch let e as KernelFileError { throw PatchStoreError.io(e) }
        return try names.filter { $0.hasSuffix(".json") }.map { file in
            let path = "\(dir)/\(file)"
            do {
                let bytes = try KernelFile.readBytes(path)
                return try JSONCoding.decoder.decode(InstalledPatch.self, from: JSONCoding.data(bytes))
            } catch {
                throw PatchStoreError.unreadableRecord(path: path, reason: "\(error)")
            }
        }.sorted { $0.sequence < $1.sequence }
    }
}
