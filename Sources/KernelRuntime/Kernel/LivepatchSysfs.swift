import PatchModel

/// A function a livepatch replaces, from its sysfs directory name `<func>,<sympos>`.
public struct LivepatchFunction: Codable, Equatable, Hashable, Sendable {
    public let name: String
    /// n: the n-th symbol of that name in its object. sysfs shows 1 for a patch
    /// that asked for 0 (the name is unique).
    public let sympos: Int

    public init(name: String, sympos: Int) {
        self.name = name
        self.sympos = sympos
    }

    /// Parses `<func>,<sympos>`; names never contain a comma, so the last one splits.
    public init?(directoryName: String) {
        guard let comma = directoryName.lastIndex(of: ","),
              let pos = Int(directoryName[directoryName.index(after: comma)...]), pos >= 0 else { return nil }
        let name = String(directoryName[..<comma])
        guard !name.isEmpty else { return nil }
        self.init(name: name, sympos: pos)
    }
}

/// A patched object (`vmlinux` or a module name) of a livepatch.
public struct LivepatchObject: Codable, Equatable, Sendable {
    public let name: String
    /// The object is loaded and its functions are redirected.
    public let patched: Bool
    public let functions: [LivepatchFunction]
}

/// Which way a transition runs.
public enum TransitionDirection: String, Codable, Sendable {
    case patching, unpatching

    /// The universe every task must reach.
    public var target: PatchState { self == .patching ? .patched : .unpatched }
    public var reversed: TransitionDirection { self == .patching ? .unpatching : .patching }
}

/// One patch under /sys/kernel/livepatch/<name>.
public struct LivepatchPatch: Codable, Equatable, Sendable {
    public let name: String
    public let enabled: Bool
    public let transition: Bool
    public let objects: [LivepatchObject]
    /// The kernel's `replace` attribute (6.11+): the patch replaces every other patch
    /// (klp_patch.replace, `build --replace`); nil on kernels without it (6.1).
    public var replace: Bool? = nil

    /// The running transition's direction: towards `enabled`.
    public var direction: TransitionDirection? {
        transition ? (enabled ? .patching : .unpatching) : nil
    }

    public var functionNames: Set<String> { Set(objects.flatMap { $0.functions.map(\.name) }) }

    /// The replacement symbols kpatchctl's builder gives the new functions, mapped
    /// to the functions they replace (sysfs shows sympos 0 as 1, so both count).
    public var replacementNames: [String: String] {
        var names: [String: String] = [:]
        for function in objects.flatMap(\.functions) {
            for sympos in Set([function.sympos, function.sympos == 1 ? 0 : function.sympos]) {
                names[SymbolNames.replacementSymbol(for: function.name, sympos: sympos)] = function.name
            }
        }
        return names
    }
}

public enum LivepatchSysfsError: Error, CustomStringConvertible {
    case unreadable(KernelFileError)
    case badValue(path: String, value: String)
    case noLivepatchSupport(root: String)

    public var description: String {
        switch self {
        case .unreadable(let e): return "cannot read the livepatch state: \(e)"
        case .badValue(let path, let value): return "unexpected value '\(value)' in \(path)"
        case .noLivepatchSupport(let root):
            return "\(root) does not exist: this kernel has no livepatch support (CONFIG_LIVEPATCH) or sysfs is not mounted"
        }
    }
}

/// The kernel's livepatch sysfs tree. A patch directory that disappears means the
/// patch was disabled and freed: readers return nil for it instead of failing.
public struct LivepatchSysfs: Sendable {
    public static let defaultRoot = "/sys/kernel/livepatch"
    public let root: String

    public init(root: String = LivepatchSysfs.defaultRoot) { self.root = root }

    public var isAvailable: Bool { KernelFile.isDirectory(root) }

    public func patchNames() throws -> [String] {
        guard isAvailable else { throw LivepatchSysfsError.noLivepatchSupport(root: root) }
        do {
            return try KernelFile.list(root).filter { KernelFile.isDirectory("\(root)/\($0)") }.sorted()
        } catch let e as KernelFileError {
            throw LivepatchSysfsError.unreadable(e)
        }
    }

    /// Every loaded patch; one that vanishes while being read is left out.
    public func patches() throws -> [LivepatchPatch] {
        try patchNames().compactMap { try patch(named: $0) }
    }

    /// nil when the patch's directory does not exist (never loaded, or done unpatching).
    public func patch(named name: String) throws -> LivepatchPatch? {
        let dir = "\(root)/\(name)"
        do {
            guard let enabled = try flag("\(dir)/enabled"),
                  let transition = try flag("\(dir)/transition") else { return nil }
            var objects: [LivepatchObject] = []
            for entry in try KernelFile.list(dir).sorted() {
                let objDir = "\(dir)/\(entry)"
                guard KernelFile.isDirectory(objDir), let patched = try flag("\(objDir)/patched") else { continue }
                let functions = try KernelFile.list(objDir)
                    .filter { KernelFile.isDirectory("\(objDir)/\($0)") }
                    .compactMap(LivepatchFunction.init(directoryName:))
                    .sorted { ($0.name, $0.sympos) < ($1.name, $1.sympos) }
                objects.append(LivepatchObject(name: entry, patched: patched, functions: functions))
            }
            return LivepatchPatch(name: name, enabled: enabled, transition: transition, objects: objects,
                                  replace: try flag("\(dir)/replace"))
        } catch let e as KernelFileError where e.isMissing {
            return nil
        } catch let e as KernelFileError {
            throw LivepatchSysfsError.unreadable(e)
        }
    }

    /// Writes `enabled`: 0 disables (or reverses a patching transition), 1 reverses
    /// an unpatching transition. The kernel refuses re-enabling a disabled patch.
    public func setEnabled(_ name: String, _ enabled: Bool) throws {
        do {
            try KernelFile.write("\(root)/\(name)/enabled", enabled ? "1" : "0")
        } catch let e as KernelFileError {
            throw LivepatchSysfsError.unreadable(e)
        }
    }

    /// The patch currently in transition, if any (the kernel allows one at a time).
    public func transitioningPatch() throws -> LivepatchPatch? {
        try patches().first { $0.transition }
    }

    private func flag(_ path: String) throws -> Bool? {
        guard let value = try KernelFile.readValue(path) else { return nil }
        switch value {
        case "0": return false
        case "1": return true
        default: throw LivepatchSysfsError.badValue(path: path, value: value)
        }
    }
}
