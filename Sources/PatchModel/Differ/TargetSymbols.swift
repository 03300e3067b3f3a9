import Synchronization

/// The symbol table of the running object a patch targets (a module's `.ko`
/// or the debug vmlinux), indexed for sympos: the position the livepatch core
/// finds a name at when it walks that object's kallsyms.
///
/// Lazy: opening reads and checks the raw table only. The name index is built
/// on the first lookup, and a source file's block of locals when a diff first
/// asks for it; a diff touches a handful of the debug vmlinux's 130k names.
public final class TargetSymbols {
    /// "vmlinux" or the module name.
    public let objectName: String
    public let path: String
    private let table: ELFSymbolTableView
    private let isRelocatable: Bool
    /// Per section index: a module's symbol in it is in kallsyms (allocated, not `.init.*`).
    private let sectionInKallsyms: [Bool]
    private let state = Mutex(State())

    private struct State {
        var names: ByteStringIndex?
        /// Every block of locals, in symbol order; nil until the first block question.
        var blocks: [Block]?
        /// The visible locals of a block by name, built when first asked for.
        var blockSymbols: [Int: [String: [Int]]] = [:]
    }

    /// The local symbols following one STT_FILE symbol, up to the next one.
    private struct Block {
        let file: String
        let range: Range<Int>
    }

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
        table = try ELFSymbolTableView(object: object)
        let relocatable = object.fileType == .relocatable
        isRelocatable = relocatable
        // The module loader keeps only allocated, non-init symbols in kallsyms.
        sectionInKallsyms = object.sections.map { !relocatable || ($0.isAllocated && !$0.name.hasPrefix(".init.")) }
    }

    /// The block name standing for every local of a module without file symbols.
    static let wholeModuleBlock = ""

    /// Where a symbol of the patched translation unit lives in the target.
    public struct Location: Equatable {
        /// The name in the target (a renumbered static may differ from the object's).
        public let name: String
        public let sympos: Int
    }

    /// Named, defined, neither a section nor a file symbol, and in kallsyms.
    private func visible(_ i: Int) -> Bool {
        guard table.isInSection(i), table.hasName(i) else { return false }
        let type = table.type(i)
        return type != .section && type != .file && sectionInKallsyms[Int(table.sectionIndex(i))]
    }

    /// The file block of `sourceFile` that best matches the object's local names.
    func fileBlock(sourceFile: String, localNames: Set<String>) -> Int? {
        state.withLock { state in
            let blocks = self.blocks(&state)
            var best: (index: Int, score: Int)? = nil
            var tie = false
            for (i, block) in blocks.enumerated() where block.file == sourceFile || block.file == Self.wholeModuleBlock {
                let symbols = self.symbols(ofBlock: i, &state)
                let score = localNames.reduce(0) { $0 + (symbols[$1] == nil ? 0 : 1) }
                if best == nil || score > best!.score { best = (i, score); tie = false } else if score == best!.score { tie = true }
            }
            return tie ? nil : best?.index
        }
    }

    /// The target's name and sympos of `name` (local to `block` when given, else global).
    public func locate(_ name: String, inBlock block: Int?, sourceFile: String) throws -> Location {
        try state.withLock { state in
            let index: Int
            if let block {
                let locals = self.symbols(ofBlock: block, &state)
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
                let hit = self.visible(named: name, &state).filter { !table.isLocal($0) }
                guard hit.count == 1 else { throw LookupError.notFound(target: path, symbol: name, file: nil) }
                index = hit[0]
            }
            let targetName = table.name(index)
            let all = self.visible(named: targetName, &state)
            guard all.count > 1 else { return Location(name: targetName, sympos: 0) }
            guard let position = all.firstIndex(of: index) else {
                throw LookupError.notFound(target: path, symbol: targetName, file: sourceFile)
            }
            return Location(name: targetName, sympos: position + 1)
        }
    }

    /// True when the target defines a global (or weak) symbol of this name.
    public func definesGlobal(_ name: String) -> Bool {
        state.withLock { state in self.visible(named: name, &state).contains { !table.isLocal($0) } }
    }

    // MARK: Lazy indexes

    /// The kallsyms-visible symbols named `name`, in kallsyms order.
    private func visible(named name: String, _ state: inout State) -> [Int] {
        if state.names == nil { state.names = ByteStringIndex(count: table.count) { visible($0) ? table.nameHash($0) : nil } }
        let utf8 = Array(name.utf8)
        let hits = state.names!.lookup(hash: ByteStringIndex.hash(utf8)) { table.nameEquals($0, utf8) }
        guard !isRelocatable, hits.count > 1 else { return hits }
        return hits.sorted { (table.value($0), $0) < (table.value($1), $1) }
    }

    private func blocks(_ state: inout State) -> [Block] {
        if let blocks = state.blocks { return blocks }
        var files: [Int] = []
        for i in 0..<table.count where table.isLocal(i) && table.type(i) == .file { files.append(i) }
        var blocks = files.indices.map { k in
            Block(file: table.name(files[k]), range: files[k] + 1 ..< (k + 1 < files.count ? files[k + 1] : table.count))
        }
        // Distribution modules are stripped of STT_FILE symbols: the whole module
        // is then one block (same-named statics in it stay ambiguous and refuse).
        if blocks.isEmpty, isRelocatable { blocks = [Block(file: Self.wholeModuleBlock, range: 0..<table.count)] }
        state.blocks = blocks
        return blocks
    }

    private func symbols(ofBlock block: Int, _ state: inout State) -> [String: [Int]] {
        if let known = state.blockSymbols[block] { return known }
        let blocks = self.blocks(&state)
        guard blocks.indices.contains(block) else { return [:] }
        var symbols: [String: [Int]] = [:]
        for i in blocks[block].range where table.isLocal(i) && visible(i) { symbols[table.name(i), default: []].append(i) }
        state.blockSymbols[block] = symbols
        return symbols
    }
}
