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
    /// Data the kernel fills in when it links the object (`.BTF_ids`): a patch cannot carry it.
    case linkTimeData = "link-time-data"
    /// A jump label on a static key defined in a module.
    case moduleStaticKey = "module-static-key"
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

/// Why a function is replaced: what differs between its original and patched build.
public struct ChangeReason: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        /// Its instructions differ.
        case code
        /// Same instructions, but a call or reference goes to another symbol.
        case relocation
        /// Same instructions and targets, but data it uses (a string, a constant) differs.
        case data
        /// Its instructions differ where a changed inline function was inlined into it.
        case inlinedCallee = "inlined-callee"
        /// It is unchanged but calls a changed notrace function, which ftrace cannot
        /// redirect: the patch replaces it so that it calls the new body.
        case notraceCallee = "notrace-callee"
    }
    public let kind: Kind
    /// The symbol or string concerned (nil for `code`).
    public let detail: String?

    public init(_ kind: Kind, _ detail: String? = nil) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .code: return "code changed"
        case .relocation: return "references \(detail ?? "another symbol")"
        case .data: return "data it uses changed: \(detail ?? "?")"
        case .inlinedCallee: return "inlined callee \(detail ?? "?") changed"
        case .notraceCallee: return "calls changed notrace \(detail ?? "?") (carried as a new function)"
        }
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
    /// Why it is replaced (nil in metadata of patches built before reasons were recorded).
    public var reason: ChangeReason?

    public init(object: String, name: String, sympos: Int, newSymbol: String, reason: ChangeReason? = nil) {
        self.object = object
        self.name = name
        self.sympos = sympos
        self.newSymbol = newSymbol
        self.reason = reason
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

    /// Reads `elfName` back, as the kernel's loader does; nil for any other name.
    public init?(elfName: String) {
        guard elfName.hasPrefix(".klp.sym.") else { return nil }
        let rest = elfName.dropFirst(".klp.sym.".count)
        guard let dot = rest.firstIndex(of: "."), let comma = rest.lastIndex(of: ","), dot < comma,
              let sympos = Int(rest[rest.index(after: comma)...]) else { return nil }
        self.init(object: String(rest[..<dot]), name: String(rest[rest.index(after: dot)..<comma]), sympos: sympos)
    }

    public static func < (a: KlpSymbol, b: KlpSymbol) -> Bool { (a.object, a.name, a.sympos) < (b.object, b.name, b.sympos) }
}

/// What a build's diff found, over all its objects: counts of replaced
/// functions per reason, and what was left out as noise.
public struct DiffSummary: Codable, Equatable, Sendable {
    /// Replaced functions per `ChangeReason.Kind` raw value.
    public var reasons: [String: Int] = [:]
    /// Functions not replaced because only line numbers or counter-numbered names changed.
    public var ignored: [String] = []
    /// Changed notrace functions carried as new functions.
    public var notraceBodies: [String] = []

    public init() {}

    public init(plans: [PatchPlan]) {
        for f in plans.flatMap(\.replaced) { reasons[(f.reason?.kind ?? .code).rawValue, default: 0] += 1 }
        ignored = plans.flatMap(\.noiseOnly).sorted()
        notraceBodies = plans.flatMap(\.notraceBodies).sorted()
    }
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
    /// Undefined symbols another object of the same patch defines (new globals).
    public var sharedUndefined: [String] = []
    /// Functions that differ only in noise (line numbers in WARN/BUG/dynamic-debug
    /// data, counter-numbered symbol names) and are therefore not replaced.
    public var noiseOnly: [String] = []
    /// Changed notrace functions carried as new functions, reached by their replaced callers.
    public var notraceBodies: [String] = []

    /// Each changed notrace function with the traced callers replaced for it.
    public var notraceCallers: [(body: String, callers: [String])] {
        var map: [String: [String]] = [:]
        for f in replaced where f.reason?.kind == .notraceCallee { map[f.reason?.detail ?? "?", default: []].append(f.name) }
        return map.keys.sorted().map { ($0, map[$0]!.sorted()) }
    }

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
