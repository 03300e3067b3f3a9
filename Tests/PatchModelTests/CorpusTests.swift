import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// Runs the differ over every corpus case (Tests/Corpus/*) and compares the
/// outcome with the case's expect.json: exact sets of replaced functions, new
/// symbols, klp symbols and refusals; required exported undefined symbols.
final class CorpusTests: XCTestCase {
    func testEveryCorpusCaseGivesItsExpectedOutcome() throws {
        let cases = CorpusCase.all(bed: DifferFixture.bed)
        XCTAssertGreaterThanOrEqual(cases.count, 25, "the corpus has \(cases.count) cases")
        for corpusCase in cases {
            do { try check(corpusCase) } catch { XCTFail("\(corpusCase.name): \(error)") }
        }
    }

    /// An object compared with itself is never a change, whatever it holds
    /// (several same-named statics in one function, clones, special sections).
    func testEveryCorpusObjectDiffedWithItselfIsNoChange() throws {
        for corpusCase in CorpusCase.all(bed: DifferFixture.bed) {
            let compiled = try corpusCase.compile(bed: DifferFixture.bed)
            let differ = try DifferFixture.differ(for: compiled)
            for object in [compiled.originalObject, compiled.patchedObject] {
                XCTAssertEqual(try differ.diff(original: object, patched: object), .noChange, "\(corpusCase.name): \(object.path)")
            }
        }
    }

    private func check(_ corpusCase: CorpusCase) throws {
        let name = corpusCase.name
        let expected = corpusCase.expectation
        let compiled = try corpusCase.compile(bed: DifferFixture.bed)
        let output = compiled.patchedDir.appendingPathComponent("patch-\(name).o")
        let outcome = try DifferFixture.differ(for: compiled, shared: try sharedSymbols(corpusCase, compiled))
            .diff(original: compiled.originalObject, patched: compiled.patchedObject, output: output)
        switch (expected.outcome, outcome) {
        case (.noChange, .noChange):
            break
        case (.refused, .refused(let refusals)):
            XCTAssertEqual(Set(refusals.map { "\($0.kind.rawValue) \($0.symbol)" }),
                           Set(expected.refusals.map { "\($0.kind) \($0.symbol)" }), name)
            for r in refusals {
                XCTAssertFalse(r.reason.isEmpty || r.advice.isEmpty, "\(name): \(r)")
            }
        case (.changed, .changed(let plan)):
            XCTAssertEqual(Set(plan.replaced.map { "\($0.name),\($0.sympos)" }),
                           Set(expected.replaced.map { "\($0.name),\($0.sympos)" }), "\(name): replaced")
            XCTAssertTrue(plan.replaced.allSatisfy { $0.object == compiled.moduleName }, name)
            XCTAssertEqual(Set(plan.newSymbols), Set(expected.new), "\(name): new")
            XCTAssertEqual(Set(plan.klpSymbols.map { "\($0.object) \($0.name),\($0.sympos)" }),
                           Set(expected.klp.map { "\($0.object) \($0.name),\($0.sympos)" }), "\(name): klp")
            XCTAssertTrue(Set(expected.exportedRequired).isSubset(of: plan.exportedUndefined),
                          "\(name): exported \(plan.exportedUndefined) lacks some of \(expected.exportedRequired)")
            try checkPatchObject(output, plan: plan, name: name)
        default:
            XCTFail("\(name): expected \(expected.outcome), got \(outcome)")
        }
    }

    /// New globals the case's other objects define: one patch covers the whole module.
    private func sharedSymbols(_ corpusCase: CorpusCase, _ compiled: CompiledCase) throws -> Set<String> {
        var shared: Set<String> = []
        for object in try corpusCase.objects() where object != corpusCase.expectation.object {
            shared.formUnion(try ObjectDiffer.newGlobals(original: compiled.originalDir.appendingPathComponent(object),
                                                         patched: compiled.patchedDir.appendingPathComponent(object)))
        }
        return shared
    }

    /// The written object reopens, defines every replacement and has one
    /// livepatch record per klp reference, and no SHN_LIVEPATCH symbol yet.
    private func checkPatchObject(_ url: URL, plan: PatchPlan, name: String) throws {
        let object = try ELFObject(url: url)
        let symbols = try object.symbols()
        for r in plan.replaced {
            XCTAssertTrue(symbols.contains { $0.name == r.newSymbol && $0.isInSection && $0.isFunction }, "\(name): \(r.newSymbol)")
        }
        XCTAssertFalse(symbols.contains { $0.sectionIndex == SpecialSection.livepatch }, name)
        let undefined = Set(symbols.filter(\.isUndefined).map(\.name))
        XCTAssertEqual(undefined, Set(plan.exportedUndefined + plan.sharedUndefined), "\(name): undefined symbols")
        XCTAssertNil(object.section(named: ".BTF_ids"), "\(name): link-time data copied into the patch")
        let strings = try object.data(of: try object.requireSection(named: ".note.kpatch.klp.strings"))
        let names = Set(strings.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
        XCTAssertEqual(names, Set(plan.klpSymbols.map(\.elfName)), "\(name): klp names recorded")
    }
}
