import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// TargetSymbols builds its indexes lazily from the raw symbol table. These tests
/// hold it to the sympos rule written out eagerly over every `ELFSymbol` of the
/// same file (what TargetSymbols built at open before it became lazy).
final class LazyTargetSymbolsTests: XCTestCase {
    /// Every duplicated name of the debug vmlinux (the ones sympos is about) and a
    /// sample of unique ones: the lazy index gives the eager position.
    func testLazyIndexAgreesWithAnEagerWalkOfTheDebugVmlinux() throws {
        let object = try DifferFixture.vmlinuxObject.get()
        let lazy = try TargetSymbols(object: object, objectName: "vmlinux")
        let eager = try EagerSympos(object)
        var fileCounts: [String: Int] = [:]
        for s in eager.symbols where s.isFile && s.isLocal { fileCounts[s.name, default: 0] += 1 }
        var globalsChecked = 0, localsChecked = 0, uniqueChecked = 0
        for (name, indexes) in eager.byName.sorted(by: { $0.key < $1.key }) {
            guard indexes.count > 1 else {
                if uniqueChecked % 97 == 0 || name.hasPrefix("nr_") {
                    XCTAssertEqual(lazy.definesGlobal(name), !eager.symbols[indexes[0]].isLocal, name)
                }
                uniqueChecked += 1
                continue
            }
            let globals = indexes.filter { !eager.symbols[$0].isLocal }
            XCTAssertEqual(lazy.definesGlobal(name), !globals.isEmpty, name)
            if globals.count == 1 {
                XCTAssertEqual(try lazy.locate(name, inBlock: nil, sourceFile: "-"),
                               TargetSymbols.Location(name: name, sympos: eager.sympos(of: globals[0])), name)
                globalsChecked += 1
            }
            for i in indexes where eager.symbols[i].isLocal {
                // Only where the file and the name pick one symbol: a name alone cannot tell the rest apart.
                guard let file = eager.file(of: i), fileCounts[file] == 1,
                      eager.locals(named: name, inFile: file).count == 1 else { continue }
                let block = try XCTUnwrap(lazy.fileBlock(sourceFile: file, localNames: [name]), "\(name) in \(file)")
                XCTAssertEqual(try lazy.locate(name, inBlock: block, sourceFile: file),
                               TargetSymbols.Location(name: name, sympos: eager.sympos(of: i)), "\(name) in \(file)")
                localsChecked += 1
            }
        }
        // Not vacuous: the 6.1 debug vmlinux has thousands of same-named statics.
        XCTAssertGreaterThan(localsChecked, 1000)
        XCTAssertGreaterThan(globalsChecked, 10)
        XCTAssertFalse(lazy.definesGlobal("no_such_symbol_in_any_kernel"))
        XCTAssertThrowsError(try lazy.locate("no_such_symbol_in_any_kernel", inBlock: nil, sourceFile: "-"))
    }

    /// Real object pairs through the whole differ with the lazy setup: every replaced
    /// function and klp symbol has the position the eager walk gives (a vmlinux klp
    /// symbol; a module static named like one in another file of the module, sympos 2).
    func testLazySetupGivesTheEagerOutputOnRealPairs() throws {
        var checked = 0
        for name in ["vmlinux_nonexported", "same_name_second_file"] {
            let compiled = try CorpusCase.load(name, bed: DifferFixture.bed).compile(bed: DifferFixture.bed)
            let outcome = try DifferFixture.differ(for: compiled).diff(original: compiled.originalObject, patched: compiled.patchedObject)
            guard case .changed(let plan) = outcome else { return XCTFail("\(name): \(outcome)") }
            let sourceFile = try XCTUnwrap(try ELFObject(url: compiled.originalObject).symbols().first(where: \.isFile)?.name)
            let module = try EagerSympos(try ELFObject(url: compiled.originalModule))
            let vmlinux = try EagerSympos(try DifferFixture.vmlinuxObject.get())
            for r in plan.replaced {
                XCTAssertEqual(r.sympos, try module.sympos(name: r.name, sourceFile: sourceFile), "\(name): \(r.name)")
                checked += 1
            }
            for k in plan.klpSymbols {
                let eager = k.object == "vmlinux" ? vmlinux : module
                XCTAssertEqual(k.sympos, try eager.sympos(name: k.name, sourceFile: sourceFile), "\(name): \(k.elfName)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 3)
    }
}

/// kallsyms positions computed over every symbol at once: visible symbols by
/// name, in symbol-table order for a module and address order for vmlinux.
private struct EagerSympos {
    let symbols: [ELFSymbol]
    let byName: [String: [Int]]
    /// For each local symbol, the STT_FILE symbol before it.
    private let fileIndex: [Int: Int]

    init(_ object: ELFObject) throws {
        symbols = try object.symbols()
        let relocatable = object.fileType == .relocatable
        let sections = object.sections
        var byName: [String: [Int]] = [:], fileIndex: [Int: Int] = [:]
        var file: Int?
        for s in symbols {
            if s.isLocal, s.isFile { file = s.index }
            guard s.isInSection, !s.name.isEmpty, !s.isSectionSymbol, !s.isFile else { continue }
            let section = sections[Int(s.sectionIndex)]
            guard !relocatable || (section.isAllocated && !section.name.hasPrefix(".init.")) else { continue }
            byName[s.name, default: []].append(s.index)
            if s.isLocal, let file { fileIndex[s.index] = file }
        }
        if !relocatable {
            let symbols = self.symbols
            for (name, list) in byName where list.count > 1 {
                byName[name] = list.sorted { (symbols[$0].value, $0) < (symbols[$1].value, $1) }
            }
        }
        self.byName = byName
        self.fileIndex = fileIndex
    }

    func file(of index: Int) -> String? { fileIndex[index].map { symbols[$0].name } }

    func locals(named name: String, inFile file: String) -> [Int] {
        (byName[name] ?? []).filter { symbols[$0].isLocal && self.file(of: $0) == file }
    }

    func sympos(of index: Int) -> Int {
        let all = byName[symbols[index].name] ?? [index]
        return all.count > 1 ? all.firstIndex(of: index)! + 1 : 0
    }

    /// The position of the one symbol `name` means from `sourceFile`: its static there, else the global.
    func sympos(name: String, sourceFile: String) throws -> Int {
        let local = locals(named: name, inFile: sourceFile)
        let candidates = local.isEmpty ? (byName[name] ?? []).filter { !symbols[$0].isLocal } : local
        return sympos(of: try XCTUnwrap(candidates.count == 1 ? candidates.first : nil, "\(name) from \(sourceFile): \(candidates)"))
    }
}
