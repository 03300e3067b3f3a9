/// The symbol table of the running object a patch targets (a module's `.ko`
/// or the debug vmlinux), indexed for sympos: the position the livepatch core
/// finds a name at when it walks that object's kallsyms.
public final class TargetSymbols {
    /// "vmlinux" or the module name.
    public let objectName: String
    public let path: String
    private let symbols: [ELFSymbol]
    /// kallsyms-visible symbols by name, in kallsyms order.
    private let visibleByName: [String: [Int]]
    /// Local symbols following each STT_FILE symbol.
    private let fileBlocks: [(file: String, symbols: [String: [Int]])]

    public enum LookupError: Error, CustomStringConvertible, Equatable {
        case notFound(target: String, symbol: String, file: String?)
        case ambiguous(target: String, symbol: String, file: String)

        public var description: String {
            switch self {
            case .notFound(let t, let s, let f):
                return "\(t): no symbol \(s)\(f.map { " from \($0)" } ?? ""); is this the symbol table of the running object?"
            case .ambiguous(let t, let s, let f):
                return "\(t): \(s) of \(f) matches several file blocks equally well; cannot compute its sympos"
            }
        }
    }

    /// `object` is a module `.ko` (ET_REL: kallsyms order is symbol-table order)
    /// or vmlinux (ET_EXEC: kallsyms order is address order).
    public init(object: ELFObject, objectName: String) throws {
        self.objectName = objectName
        self.path = object.path
        let symbols = try object.symbols()
        self.symbols = symbols
        let sections = object.sections
        func visible(_ s: ELFSymbol) -> Bool {
            guard s.isInSection, !s.name.isEmpty, !s.isSectionSymbol, !s.isFile else { return false }
            let section = sections[Int(s.sectionIndex)]
            // The module loader keeps only allocated, non-init symbols in kallsyms.
            return section.isAllocated && !section.name.hasPrefix(".init.")
                || object.fileType != .relocatable
        }
        var byName: [String: [Int]] = [:]
        for s in symbols where visible(s) { byName[s.name, default: []].append(s.index) }
        if object.fileType != .relocatable {
            for (k, v) in byName where v.count > 1 {
                byName[k] = v.sorted { (symbols[$0].value, $0) < (symbols[$1].value, $1) }
            }
        }
        visibleByName = byName
        var blocks: [(file: String, symbols: [String: [Int]])] = []
        for s in symbols where s.isLocal {
            if s.isFile { blocks.append((s.name, [:])) } else if !blocks.isEmpty, visible(s) {
                blocks[blocks.count - 1].symbols[s.name, default: []].append(s.index)
            }
        }
        // Distribution modules are stripped of STT_FILE symbols: the whole module
        // is then one block (same-named statics in it stay ambiguous and refuse).
        if blocks.isEmpty, object.fileType == .relocatable {
            var all: [String: [Int]] = [:]
            for s in symbols where s.isLocal && visible(s) { all[s.name, default: []].append(s.index) }
            blocks = [(Self.wholeModuleBlock, all)]
        }
        fileBlocks = blocks
    }

    /// The block name standing for every local of a module without file symbols.
    static let wholeModuleBlock = ""

    /// Where a symbol of the patched translation unit lives in the target.
    public struct Location: Equatable {
        /// The name in the target (a renumbered static may differ from the object's).
        public let name: String
        public let sympos: Int
    }

    /// The file block of `sourceFile` that best matches the object's local names.
    func fileBlock(sourceFile: String, localNames: Set<String>) -> Int? {
        var best: (index: Int, score: Int)? = nil
        var tie = false
        for (i, block) in fileBlocks.enumerated() where block.file == sourceFile || block.file == Self.wholeModuleBlock {
            let score = localNames.reduce(0) { $0 + (block.symbols[$1] == nil ? 0 : 1) }
            if best == nil || score > best!.score { best = (i, score); tie = false } else if score == best!.score { tie = true }
        }
        return tie ? nil : best?.index
    }

    /// The target's name and sympos of `name` (local to `block` when given, else global).
    public func locate(_ name: String, inBlock block: Int?, sourceFile: String) throws -> Location {
        let index: Int
        if let block {
            let locals = fileBlocks[block].symbols
            if let hit = locals[name], hit.count == 1 {
                index = hit[0]
            } else {
                let normalized = SymbolNames.normalized(name)
                let alike = locals.filter { SymbolNames.normalized($0.key) == normalized && $0.value.count == 1 }
                guard alike.count == 1, let only = alike.first else {
                    throw LookupError.notFound(target: path, symbol: name, file: sourceFile)
                }
                index = only.value[0]
            }
        } else {
            guard let hit = visibleByName[name]?.filter({ !symbols[$0].isLocal }), hit.count == 1 else {
                throw LookupError.notFound(target: path, symbol: name, file: nil)
            }
            index = hit[0]
        }
        let targetName = symbols[index].name
        let all = visibleByName[targetName] ?? [index]
        guard all.count > 1 else { return Location(name: targetName, sympos: 0) }
        guard let position = all.firstIndex(of: index) else {
            throw LookupError.notFound(target: path, symbol: targetName, file: sourceFile)
        }
        return Location(name: targetName, sympos: position + 1)
    }

    /// True when the target defines a global (or weak) symbol of this name.
    public func definesGlobal(_ name: String) -> Bool {
        visibleByName[name]?.contains { !symbols[$0].isLocal } ?? false
    }
}
