import FoundationEssentials

/// What diffing one translation unit gives: nothing to patch, a plan (and the
/// patch object written), or the reasons the change cannot be live-patched.
public enum DiffOutcome: Equatable {
    case noChange
    case changed(PatchPlan)
    case refused([Refusal])
}

/// The kinds of change the differ refuses by default (raw values are the
/// corpus' and the CLI's JSON strings).
public enum RefusalKind: String, Codable, CaseIterable, Sendable {
    case changedData = "changed-data"
    case initExitCode = "init-exit-code"
    case notrace
    case sectionGroup = "section-group"
    case movedSection = "moved-section"
    case sizeChanged = "size-changed"
    case exportTable = "export-table"
}

/// One refused change: what, where, why, and what to do instead.
public struct Refusal: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public let kind: RefusalKind
    public let symbol: String
    public let section: String?
    public let reason: String
    public let advice: String

    public init(kind: RefusalKind, symbol: String, section: String?, reason: String, advice: String) {
        self.kind = kind
        self.symbol = symbol
        self.section = section
        self.reason = reason
        self.advice = advice
    }

    public var description: String {
        "\(kind.rawValue): \(symbol)\(section.map { " (\($0))" } ?? ""): \(reason); \(advice)"
    }
}

/// A function of the running object that the patch replaces.
public struct ReplacedFunction: Codable, Hashable, Sendable {
    /// "vmlinux" or the module name.
    public let object: String
    /// The symbol name in the running object (GCC suffixes included).
    public let name: String
    /// 0 when the name is unique in `object`, else its 1-based position.
    public let sympos: Int
    /// The global symbol of the replacement in the patch object.
    public let newSymbol: String

    public init(object: String, name: String, sympos: Int, newSymbol: String) {
        self.object = object
        self.name = name
        self.sympos = sympos
        self.newSymbol = newSymbol
    }
}

/// A symbol of the running kernel the patch reaches through a livepatch
/// relocation: `.klp.sym.<object>.<name>,<sympos>`.
public struct KlpSymbol: Codable, Hashable, Comparable, Sendable {
    public let object: String
    public let name: String
    public let sympos: Int

    public init(object: String, name: String, sympos: Int) {
        self.object = object
        self.name = name
        self.sympos = sympos
    }

    /// The symbol name the kernel's loader parses (`.klp.sym.%55[^.].%511[^,],%lu`).
    public var elfName: String { ".klp.sym.\(object).\(name),\(sympos)" }

    public static func < (a: KlpSymbol, b: KlpSymbol) -> Bool { (a.object, a.name, a.sympos) < (b.object, b.name, b.sympos) }
}

/// What the patch object holds and needs.
public struct PatchPlan: Codable, Equatable, Sendable {
    public let replaced: [ReplacedFunction]
    /// Functions and data the patch adds (not replacing anything), by name.
    public let newSymbols: [String]
    /// Symbols reached through livepatch relocations.
    public let klpSymbols: [KlpSymbol]
    /// Undefined symbols left for the module loader (exported by vmlinux).
    public let exportedUndefined: [String]
    /// The intermediate patch object written (see docs/PATCH-OBJECT.md), if asked for.
    public let patchObject: URL?
    /// Callbacks the author registered (KPATCH_*_CALLBACK), global in the patch object.
    public let callbacks: [PatchCallback]
    /// System states the author declared (KPATCH_STATE).
    public let states: [SystemState]
    /// Changes the author marked as ignored (KPATCH_IGNORE_FUNCTION / _SECTION).
    public let ignored: [IgnoredChange]
    /// Running-kernel functions the callbacks' code calls (for the kthread analysis).
    public let callbackCallees: [String]

    public init(replaced: [ReplacedFunction], newSymbols: [String], klpSymbols: [KlpSymbol],
                exportedUndefined: [String], patchObject: URL?, callbacks: [PatchCallback] = [],
                states: [SystemState] = [], ignored: [IgnoredChange] = [], callbackCallees: [String] = []) {
        self.replaced = replaced
        self.newSymbols = newSymbols
        self.klpSymbols = klpSymbols
        self.exportedUndefined = exportedUndefined
        self.patchObject = patchObject
        self.callbacks = callbacks
        self.states = states
        self.ignored = ignored
        self.callbackCallees = callbackCallees
    }
}

/// A change the differ left out because the author said so.
public struct IgnoredChange: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Marker: String, Codable, Sendable {
        case function = "KPATCH_IGNORE_FUNCTION"
        case section = "KPATCH_IGNORE_SECTION"
    }
    public let symbol: String
    public let section: String
    public let marker: Marker

    public var description: String {
        marker == .function ? "\(symbol) (\(marker.rawValue))" : "\(symbol) in \(section) (\(marker.rawValue))"
    }
}
