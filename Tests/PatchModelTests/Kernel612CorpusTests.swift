import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// The differ on Debian 13's 6.12 objects (issue 19 item 3): corpus cases compiled at test
/// time with the kernel's gcc-14 and Kbuild flags in the trixie build root
/// (`-fcf-protection=branch`, `-fpatchable-function-entry=16,16`, return thunks, static calls).
/// Needs the 6.12 test bed (scripts/fetch-kernel and scripts/buildroot with
/// --pin scripts/target-kernel-6.12.env): without it the tests fail, naming what to make.
final class Kernel612CorpusTests: XCTestCase {
    static let inputs = Result { () throws -> DifferInputs in
        let bed = try TestBed(pin: TestBed.pin612)
        try bed.requireKernel()
        return DifferInputs(bed: bed)
    }

    /// Cases whose 6.1 expectation holds on 6.12 as written: a constprop clone (local, only
    /// called directly: no `endbr64` from GCC), a new static function (its `__pfx_` is not
    /// new code of its own), retpolines and return thunks. Built together, one Kbuild run
    /// per tree in the build root: the rest of the corpus runs on 6.1 (CorpusTests).
    static let cases = ["clone_constprop", "new_static_function", "retpoline"]
    /// Every case this class builds on a 6.12 kernel, built together (not the whole corpus).
    static let batch = cases + ["clone_cold", "module_function_call"]

    func testCorpusCasesBuiltWithGcc14GiveTheir61Outcomes() throws {
        let inputs = try Self.inputs.get()
        for name in Self.cases {
            let corpusCase = try CorpusCase.load(name, bed: inputs.bed)
            let compiled = try corpusCase.compile(bed: inputs.bed, batch: Self.batch)
            // The objects are 6.12's: IBT in their property note, padding before each function.
            let original = try ObjectModel(path: compiled.originalObject.path)
            XCTAssertTrue(try FunctionEntry.isIBT(original), "\(name): \(compiled.originalObject.path) is not an IBT object")
            let output = compiled.patchedDir.appendingPathComponent("patch-\(name).o")
            let outcome = try inputs.differ(for: compiled).diff(original: compiled.originalObject, patched: compiled.patchedObject,
                                                                  output: output)
            guard case .changed(let plan) = outcome else { XCTFail("\(name): \(outcome)"); continue }
            let expected = corpusCase.expectation
            XCTAssertEqual(Set(plan.replaced.map { "\($0.name),\($0.sympos)" }),
                           Set(expected.replaced.map { "\($0.name),\($0.sympos)" }), "\(name): replaced")
            XCTAssertEqual(Set(plan.newSymbols), Set(expected.new), "\(name): new")
            XCTAssertFalse((plan.replaced.map(\.name) + plan.newSymbols).contains { $0.hasPrefix("__pfx_") }, "\(name): a __pfx_ symbol as code of its own")
            try checkEntries(of: output, plan: plan, name: name)
        }
    }

    /// An object diffed with itself is no change: its `__pfx_` symbols (objtool made them
    /// for the single-object module) never count as functions.
    func testObjectsWithPaddingSymbolsDiffedWithThemselvesAreNoChange() throws {
        let inputs = try Self.inputs.get()
        let compiled = try CorpusCase.load("new_static_function", bed: inputs.bed).compile(bed: inputs.bed, batch: Self.batch)
        let model = try ObjectModel(path: compiled.originalModule.path.replacingOccurrences(of: ".ko", with: ".o"))
        XCTAssertFalse(model.padding.isEmpty, "objtool gave the module object no __pfx_ symbols")
        XCTAssertTrue(model.padding.allSatisfy { model.symbols[$0].name.hasPrefix("__pfx_") && model.symbols[$0].size == 16 })
        let differ = try inputs.differ(for: compiled)
        for object in [compiled.originalObject, compiled.patchedObject] {
            XCTAssertEqual(try differ.diff(original: object, patched: object), .noChange, object.path)
        }
    }

    /// A module fix whose new code calls two non-exported functions of its module (klp
    /// relocations, written after the link), built by `kpatchctl build` with gcc-14: objtool, which
    /// runs on the linked module on IBT kernels, follows both calls through their anchors and
    /// writes ORC and return sites; after the post-link pass the calls are `.klp.rela.*`
    /// relocations against SHN_LIVEPATCH symbols, over zero fields, and no ordinary relocation
    /// or undefined symbol names a klp symbol (docs/PATCH-OBJECT.md).
    /// Also for bookworm-backports' 6.12 (IBT too, built with the host's gcc-12; only its headers
    /// are needed, which scripts/setup --kernel-6.12 fetches).
    func testCallsToKlpSymbolsAreFollowedByObjtoolAndLeaveNoAnchor() throws {
        try checkKlpCalls(bed: try Self.inputs.get().bed)
    }

    func testCallsToKlpSymbolsAreFollowedByObjtoolOnBackports() throws {
        let bed = try TestBed(pin: TestBed.pin612bpo)
        guard FileManager.default.fileExists(atPath: bed.headers.appendingPathComponent(".config").path) else {
            return XCTFail("no \(bed.kernelRelease) headers at \(bed.headers.path) (scripts/setup --kernel-6.12)")
        }
        try checkKlpCalls(bed: bed)
    }

    private func checkKlpCalls(bed: TestBed) throws {
        let (_, module) = try LivepatchFixture.build(caseName: "module_function_call", bed: bed, batch: Self.batch)
        let ko = try ELFObject(url: module)
        for name in [".orc_unwind", ".orc_unwind_ip", ".return_sites"] {
            XCTAssertNotNil(ko.section(named: name), "objtool wrote no \(name): it did not follow the module")
        }
        let symbols = try ko.symbols()
        let klp = symbols.filter { $0.name.hasPrefix(".klp.sym.") }
        XCTAssertEqual(Set(klp.map(\.name)), [".klp.sym.kpc_module_function_call.kpc_square,0", ".klp.sym.kpc_module_function_call.kpc_cube,0"])
        XCTAssertTrue(klp.allSatisfy { $0.sectionIndex == SpecialSection.livepatch && $0.binding == .global }, "\(klp)")
        let rela = try XCTUnwrap(ko.section(named: ".klp.rela.kpc_module_function_call.text.kpc_eval"))
        let text = try ko.section(at: Int(rela.info))
        let code = try ko.data(of: text)
        let entries = try ko.relocations(in: rela)
        XCTAssertEqual(Set(entries.map { symbols[$0.symbolIndex].name }), Set(klp.map(\.name)))
        for e in entries {
            XCTAssertTrue(DirectBranch.isDisplacement(at: e.offset, in: code), "\(text.name)+\(e.offset) is not a call")
            XCTAssertEqual(Array(code[Int(e.offset)..<Int(e.offset) + 4]), [0, 0, 0, 0], "\(text.name)+\(e.offset)")
        }
        for s in ko.sections where s.type == .rela && !s.flags.contains(.relaLivepatch) {
            let named = try ko.relocations(in: s).filter { symbols[$0.symbolIndex].name.hasPrefix(".klp.sym.") }
            XCTAssertEqual(named.count, 0, "\(s.name): ordinary relocations against klp symbols")
        }
        XCTAssertFalse(symbols.contains { $0.isUndefined && $0.name.hasPrefix(".klp.sym.") })
    }

    /// A replaced function with a `.cold` part (gcc's unlikely branch), built by `kpatchctl build`
    /// with gcc-14: objtool, on the linked module, finds a cold part's function by its name
    /// (`foo.cold` -> `foo`); the part travels as `klp_new_kpc_div.cold`, so objtool follows
    /// both (binfmt_misc's `bm_status_read.cold` on 6.12 was "can't find parent function").
    func testColdPartIsNamedAfterItsReplacement() throws {
        let inputs = try Self.inputs.get()
        let (_, module) = try LivepatchFixture.build(caseName: "clone_cold", bed: inputs.bed, batch: Self.batch)
        let ko = try ELFObject(url: module)
        let names = Set(try ko.symbols().map(\.name))
        XCTAssertTrue(names.contains("klp_new_kpc_div"), "\(names.sorted())")
        XCTAssertTrue(names.contains("klp_new_kpc_div.cold"), "\(names.sorted())")
        XCTAssertFalse(names.contains("kpc_div.cold"), "the cold part kept its old name")
        for name in [".orc_unwind", ".orc_unwind_ip", ".return_sites"] {
            XCTAssertNotNil(ko.section(named: name), "objtool wrote no \(name): it did not follow the module")
        }
    }

    /// Every function of the patch object keeps its 16 NOPs of padding before it (call-depth
    /// tracking writes its thunk there), every replacement starts with `endbr64` (the
    /// klp_func table takes its address), and what points into a function that got one
    /// moved with its code: its `__mcount_loc` entry still points at the `call __fentry__`.
    private func checkEntries(of url: URL, plan: PatchPlan, name: String) throws {
        let object = try ELFObject(url: url)
        let symbols = try object.symbols()
        var mcount: [Int: Int64] = [:]
        if let rela = object.sections.first(where: { $0.type == .rela && $0.name == ".rela__mcount_loc" }) {
            for r in try object.relocations(in: rela) { mcount[r.symbolIndex] = r.addend }
        }
        for r in plan.replaced {
            guard let s = symbols.first(where: { $0.name == r.newSymbol }) else { XCTFail("\(name): no \(r.newSymbol)"); continue }
            let section = try object.section(at: Int(s.sectionIndex))
            let bytes = try object.data(of: section)
            XCTAssertEqual(s.value, 16, "\(name): \(r.newSymbol) has no padding before it")
            XCTAssertEqual(Array(bytes.prefix(16)), Array(repeating: FunctionEntry.nop, count: 16), "\(name): \(r.newSymbol)'s padding")
            XCTAssertEqual(Array(bytes[16..<20]), FunctionEntry.endbr64, "\(name): \(r.newSymbol) does not start with endbr64")
            // ftrace patches the call at the entry + 4: __mcount_loc must say so.
            guard let addend = mcount[s.index] else { XCTFail("\(name): no __mcount_loc entry for \(r.newSymbol)"); continue }
            XCTAssertEqual(addend, 4, "\(name): \(r.newSymbol)'s __mcount_loc entry")
            XCTAssertEqual(bytes[20], 0xe8, "\(name): \(r.newSymbol)+4 is not the call to __fentry__")
        }
    }
}
