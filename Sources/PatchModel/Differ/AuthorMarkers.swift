/// The livepatch core's four per-object callbacks (struct klp_callbacks).
public enum CallbackKind: String, Codable, CaseIterable, Sendable {
    case prePatch = "pre_patch"
    case postPatch = "post_patch"
    case preUnpatch = "pre_unpatch"
    case postUnpatch = "post_unpatch"

    /// The marker section kpatch-macros.h puts the callback's pointer in.
    var markerSection: String { ".kpatchctl.callback.\(rawValue)" }
    /// As in messages: "pre-patch".
    public var label: String { rawValue.replacing("_", with: "-") }
}

/// A callback the patch registers for one object.
public struct PatchCallback: Codable, Hashable, Sendable {
    /// "vmlinux" or the module name: the klp_object it is wired into.
    public let object: String
    public let kind: CallbackKind
    /// The function as the author named it.
    public let function: String
    /// Its global name in the patch module.
    public let newSymbol: String

    public init(object: String, kind: CallbackKind, function: String, newSymbol: String) {
        self.object = object
        self.kind = kind
        self.function = function
        self.newSymbol = newSymbol
    }

    /// How the patch module logs a vetoing pre-patch callback: this prefix, the
    /// patch name, then ": pre-patch callback <function> of object <object> returned <errno>".
    public static let vetoLogPrefix = "kpatchctl: "

    /// The global name the differ gives a callback (one per object and kind).
    static func symbolName(object: String, kind: CallbackKind) -> String { "kpatchctl_callback_\(object)_\(kind.rawValue)" }
}

/// A system state the patch declares (klp_state: id + version).
public struct SystemState: Codable, Hashable, Sendable, CustomStringConvertible {
    public let id: UInt64
    public let version: UInt32

    public init(id: UInt64, version: UInt32) {
        self.id = id
        self.version = version
    }

    public var description: String { "state \(id) version \(version)" }
}

/// What kpatch-macros.h's markers (sections `.kpatchctl.*`) say about one patched
/// object. The markers themselves never reach the patch.
struct AuthorMarkers {
    static let sectionPrefix = ".kpatchctl."
    static let ignoredFunctionSection = ".kpatchctl.ignore.function"
    static let ignoredSectionSection = ".kpatchctl.ignore.section"
    static let stateSection = ".kpatchctl.state"
    /// id (u64), version (u32), reserved (u32).
    static let stateEntrySize = 16
    /// Symbols kmod/kpatch-patch.c defines for the author API (KPATCH_STATE_GET).
    static let templateSymbols: Set<String> = ["kpatchctl_patch"]

    /// Patched symbol index of each callback function, by kind.
    var callbacks: [CallbackKind: Int] = [:]
    /// Functions the author marked with KPATCH_IGNORE_FUNCTION.
    var ignoredFunctions: Set<Int> = []
    /// Section names the author marked with KPATCH_IGNORE_SECTION.
    var ignoredSections: Set<String> = []
    var states: [SystemState] = []
    /// The marker variables: left out of the patch.
    var markerSymbols: Set<Int> = []

    /// kpatch's own kpatch-macros.h names its KPATCH_IGNORE_FUNCTION marker so (a
    /// pointer to the function, as ours): objects built with it (kpatch's unit tests,
    /// patches written for kpatch) mean the same.
    static let kpatchIgnoredFunctionSection = ".kpatch.ignore.functions"

    init(patched: ObjectModel) throws {
        for section in patched.sections where section.name.hasPrefix(Self.sectionPrefix) || section.name == Self.kpatchIgnoredFunctionSection {
            markerSymbols.formUnion(patched.symbolsInSection[section.index] ?? [])
            switch section.name {
            case Self.ignoredFunctionSection, Self.kpatchIgnoredFunctionSection:
                ignoredFunctions.formUnion(try functionTargets(of: section, in: patched))
            case Self.ignoredSectionSection:
                let bytes = try patched.elf.data(of: section)
                for name in bytes.split(separator: 0) where !name.isEmpty {
                    ignoredSections.insert(String(decoding: name, as: UTF8.self))
                }
            case Self.stateSection:
                let bytes = try patched.elf.data(of: section)
                guard bytes.count % Self.stateEntrySize == 0 else {
                    throw DifferError.unsupported(file: patched.path, symbol: section.name,
                                                  what: "holds \(bytes.count) bytes, not whole KPATCH_STATE entries of \(Self.stateEntrySize)")
                }
                for at in stride(from: 0, to: bytes.count, by: Self.stateEntrySize) {
                    let id = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
                    let version = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + 8 + $1]) << (8 * $1) }
                    states.append(SystemState(id: id, version: version))
                }
            default:
                guard let kind = CallbackKind.allCases.first(where: { $0.markerSection == section.name }) else {
                    throw DifferError.unsupported(file: patched.path, symbol: section.name,
                        what: "is not a marker of this kpatchctl's kpatch-macros.h (callbacks, ignore markers, states)")
                }
                let targets = try functionTargets(of: section, in: patched)
                guard targets.count == 1, let function = targets.first else {
                    throw DifferError.unsupported(file: patched.path, symbol: section.name,
                        what: "\(targets.count) \(kind.label) callbacks in one object; the kernel runs one per object: call the others from one function")
                }
                callbacks[kind] = function
            }
        }
    }

    /// The functions a marker section's pointers point to.
    private func functionTargets(of section: ELFSection, in patched: ObjectModel) throws -> Set<Int> {
        var result: Set<Int> = []
        for ref in patched.references[section.index] ?? [] {
            guard case .symbol(let i) = ref.target, patched.symbols[i].isFunction, patched.symbols[i].isInSection else {
                throw DifferError.unsupported(file: patched.path, symbol: section.name,
                                              what: "points to something that is not a function of this file")
            }
            result.insert(patched.aliases[i] ?? i)
        }
        return result
    }

    /// Symbols of the patched object the author asked the differ to leave out.
    func ignoredSymbols(in patched: ObjectModel) -> Set<Int> {
        var result = ignoredFunctions
        for s in patched.symbols where s.isInSection && ignoredSections.contains(patched.sectionName(of: s.index)) {
            result.insert(s.index)
        }
        return result
    }
}
