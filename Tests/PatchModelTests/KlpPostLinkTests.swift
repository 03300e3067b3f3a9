import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// The post-link pass on a patch module linked by Kbuild (corpus case
/// module_static_var: kpc_add reaches the module's static kpc_total).
final class KlpPostLinkTests: XCTestCase {
    /// A patch that exports a new function (export_new_function's kpc_thrice) gets its
    /// Module.symvers beside it, with the CRC a build of the patched source exports (from
    /// the patched object's `#SYMVER` line), so modules built against it load under
    /// CONFIG_MODVERSIONS (the VM check: DifferCorpusVMTests). A patch without exports has none.
    /// Anchors of branches to klp symbols (IBT): the klp name, but the plain name for a callee
    /// objtool knows never returns (it recognises those only by name); the post-link pass
    /// matches either to its record and nothing else.
    func testAnchorNamesOfNoreturnCalleesArePlain() {
        XCTAssertEqual(KlpAnchor.symbolName(for: KlpSymbol(object: "vmlinux", name: "override_release", sympos: 0)),
                       ".klp.sym.vmlinux.override_release,0")
        XCTAssertEqual(KlpAnchor.symbolName(for: KlpSymbol(object: "vmlinux", name: "make_task_dead", sympos: 0)), "make_task_dead")
        XCTAssertTrue(KlpAnchor.names("make_task_dead", anchorOf: ".klp.sym.vmlinux.make_task_dead,0"))
        XCTAssertTrue(KlpAnchor.names(".klp.sym.vmlinux.override_release,0", anchorOf: ".klp.sym.vmlinux.override_release,0"))
        XCTAssertFalse(KlpAnchor.names("make_task_dead", anchorOf: ".klp.sym.vmlinux.do_exit,0"))
        XCTAssertFalse(KlpAnchor.names("override_release", anchorOf: ".klp.sym.vmlinux.override_release,0"), "not a noreturn: only the klp name")
        XCTAssertFalse(KlpAnchor.names("make_task_dead", anchorOf: ".klp.sym.vmlinux.make_task_dead_x,0"))
    }

    func testNewExportIsVersionedInTheSymversBesideThePatch() throws {
        let bed = DifferFixture.bed
        let (_, module) = try LivepatchFixture.build(caseName: "export_new_function", bed: bed)
        let symvers = try ModuleSymvers(contentsOf: module.deletingPathExtension().appendingPathExtension("symvers"))
        XCTAssertEqual(symvers.symbols, ["kpc_thrice"])
        let export = try XCTUnwrap(symvers.export(of: "kpc_thrice"))
        XCTAssertTrue(export.gplOnly)
        XCTAssertEqual(ModuleSymvers.livepatchName(export.module), "lp_export_new_function")
        let compiled = try CorpusCase.load("export_new_function", bed: bed).compile(bed: bed)
        let rebuilt = try XCTUnwrap(ModuleSymvers(contentsOf: compiled.patchedSymvers).export(of: "kpc_thrice"))
        XCTAssertNotEqual(rebuilt.crc, 0, "the patched build has no CRC for kpc_thrice: is CONFIG_MODVERSIONS off?")
        XCTAssertEqual(export.crc, rebuilt.crc, "the patch exports kpc_thrice with another CRC than the patched build")

        let (_, plain) = try LivepatchFixture.build(caseName: "body_change", bed: bed)
        XCTAssertFalse(FileManager.default.fileExists(atPath: plain.deletingPathExtension().appendingPathExtension("symvers").path),
                       "a patch that exports nothing has no Module.symvers beside it")
    }

    func testLinkedModuleGetsKlpRelaSectionsAndLivepatchSymbols() throws {
        let (_, module) = try LivepatchFixture.build(caseName: "module_static_var", bed: DifferFixture.bed)
        let ko = try ELFObject(url: module)
        XCTAssertNil(ko.section(named: ".note.kpatch.klp.relocs"))
        XCTAssertNil(ko.section(named: ".note.kpatch.klp.strings"))

        let klpRela = ko.sections.filter { $0.name.hasPrefix(".klp.rela.") }
        XCTAssertEqual(klpRela.map(\.name), [".klp.rela.kpc_module_static_var.text.kpc_add"])
        let rela = try XCTUnwrap(klpRela.first)
        XCTAssertTrue(rela.flags.isSuperset(of: [.relaLivepatch, .alloc, .infoLink]))
        XCTAssertEqual(Int(rela.link), ko.symbolTable?.index)
        XCTAssertEqual(ko.sections[Int(rela.info)].name, ".text.kpc_add")

        let symbols = try ko.symbols()
        let entries = try ko.relocations(in: rela)
        XCTAssertFalse(entries.isEmpty)
        for e in entries {
            XCTAssertEqual(symbols[e.symbolIndex].name, ".klp.sym.kpc_module_static_var.kpc_total,0")
            XCTAssertEqual(symbols[e.symbolIndex].sectionIndex, SpecialSection.livepatch)
        }
        // The places are those of the patched object's references to kpc_total inside kpc_add.
        let compiled = try CorpusCase.load("module_static_var", bed: DifferFixture.bed).compile(bed: DifferFixture.bed)
        let patched = try ObjectModel(path: compiled.patchedObject.path)
        let add = try XCTUnwrap(patched.definedByName["kpc_add"]?.first)
        let expected = patched.references(of: add).filter {
            if case .symbol(let t) = $0.target { return patched.symbols[t].name == "kpc_total" }
            return false
        }
        XCTAssertEqual(entries.map { "\($0.offset) \($0.type) \($0.addend)" }.sorted(),
                       expected.map { "\($0.offset) \($0.type) \($0.addend)" }.sorted())
        // Every other relocation section still names valid symbols.
        for s in ko.sections where s.type == .rela { XCTAssertNoThrow(try ko.relocations(in: s), s.name) }
        XCTAssertFalse(symbols.contains { $0.isUndefined && $0.name == "kpc_total" })
    }
}
