import Foundation
import TestSupport
import XCTest

/// The corpus itself, independent of the differ: every case has the contract's
/// layout, a well-formed expectation, builds against the pinned headers, and names
/// only symbols the compiled objects and the target really have.
final class CorpusLayoutTests: XCTestCase {
    let bed = TestBed.shared

    func testCorpusHasAtLeast28CasesAndEveryExpectationLoads() throws {
        let names = try CorpusCase.names(bed: bed)
        XCTAssertGreaterThanOrEqual(names.count, 28)
        for name in names {
            XCTAssertNoThrow(try CorpusCase.load(name, bed: bed), name)
            let data = try Data(contentsOf: CorpusCase.corpusDirectory(bed: bed)
                .appendingPathComponent("\(name)/expect.json"))
            let keys = Set((try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]).keys)
            XCTAssertEqual(keys, CorpusExpectation.keys, "\(name)/expect.json keys")
        }
        XCTAssertEqual(CorpusCase.all(bed: bed).map(\.name), names)
    }

    func testEveryCaseHasTheContractLayout() throws {
        for c in CorpusCase.all(bed: bed) {
            XCTAssertNotNil(c.name.range(of: "^[a-z0-9]+(_[a-z0-9]+)*$", options: .regularExpression),
                            "\(c.name): not snake_case")
            let origFiles = try sourceFiles(c.originalSources)
            let patchedFiles = try sourceFiles(c.patchedSources)
            XCTAssertEqual(origFiles, patchedFiles, "\(c.name): orig/ and patched/ hold different files")
            for tree in [c.originalSources, c.patchedSources] {
                let kbuild = try String(contentsOf: tree.appendingPathComponent("Kbuild"), encoding: .utf8)
                let lines = kbuild.split(separator: "\n").map(String.init)
                XCTAssertTrue(lines.contains("obj-m := \(c.moduleName).o"), "\(c.name): Kbuild lacks obj-m")
                XCTAssertTrue(lines.contains("ccflags-y += -ffunction-sections -fdata-sections"),
                              "\(c.name): Kbuild lacks the section flags")
                let composite = lines.first { $0.hasPrefix("\(c.moduleName)-y := ") }
                let objects = composite.map { $0.dropFirst("\(c.moduleName)-y := ".count).split(separator: " ").map(String.init) }
                    ?? ["\(c.moduleName).o"]
                XCTAssertTrue(objects.contains(c.expectation.object),
                              "\(c.name): \(c.expectation.object) is not an object of the module")
                for object in objects {
                    let source = String(object.dropLast(2)) + ".c"
                    XCTAssertTrue(origFiles.contains(source), "\(c.name): \(source) missing for \(object)")
                }
            }
            let differs = try origFiles.contains { file in
                try Data(contentsOf: c.originalSources.appendingPathComponent(file))
                    != Data(contentsOf: c.patchedSources.appendingPathComponent(file))
            }
            if c.expectation.outcome != .noChange {
                XCTAssertTrue(differs, "\(c.name): a \(c.expectation.outcome.rawValue) case needs a source change")
            }
        }
    }

    func testExpectationsAreConsistentWithTheirOutcome() {
        for c in CorpusCase.all(bed: bed) {
            let e = c.expectation
            XCTAssertFalse(e.description.isEmpty, "\(c.name): empty description")
            switch e.outcome {
            case .changed:
                XCTAssertFalse(e.replaced.isEmpty && e.new.isEmpty, "\(c.name): changed without functions")
                XCTAssertTrue(e.refusals.isEmpty, "\(c.name): changed with refusals")
            case .noChange:
                XCTAssertTrue(e.replaced.isEmpty && e.new.isEmpty && e.klp.isEmpty && e.refusals.isEmpty,
                              "\(c.name): no-change lists something")
            case .refused:
                XCTAssertFalse(e.refusals.isEmpty, "\(c.name): refused without refusals")
                XCTAssertTrue(e.replaced.isEmpty && e.new.isEmpty && e.klp.isEmpty,
                              "\(c.name): a refused case produces no plan")
            }
            for r in e.refusals {
                XCTAssertTrue(CorpusExpectation.refusalKinds.contains(r.kind), "\(c.name): unknown kind \(r.kind)")
            }
            for k in e.klp {
                XCTAssertTrue(k.object == "vmlinux" || k.object == c.moduleName, "\(c.name): klp object \(k.object)")
            }
            XCTAssertTrue((e.replaced.map(\.sympos) + e.klp.map(\.sympos)).allSatisfy { $0 >= 0 }, c.name)
            XCTAssertEqual(Set(e.replaced).count, e.replaced.count, "\(c.name): duplicate replaced")
            XCTAssertEqual(Set(e.klp).count, e.klp.count, "\(c.name): duplicate klp")
            XCTAssertEqual(Set(e.new).count, e.new.count, "\(c.name): duplicate new")
        }
    }

    func testExportedAndVmlinuxNamesMatchTheTarget() throws {
        let exported = try moduleSymvers()
        let vmlinux = Dictionary(grouping: try symbols(bed.debugVmlinux), by: \.name)
        for c in CorpusCase.all(bed: bed) {
            for name in c.expectation.exportedRequired {
                XCTAssertTrue(exported.contains(name), "\(c.name): \(name) is not exported by vmlinux")
            }
            for k in c.expectation.klp where k.object == "vmlinux" {
                XCTAssertFalse(exported.contains(k.name), "\(c.name): \(k.name) is exported: no klp symbol")
                checkSympos(k.name, k.sympos, in: vmlinux[k.name] ?? [], "\(c.name): vmlinux")
            }
        }
    }

    /// Builds every case (both trees) and checks the names the expectation uses
    /// against what gcc really produced.
    func testBothTreesBuildAndExpectedSymbolsExist() throws {
        for c in CorpusCase.all(bed: bed) {
            let built: CompiledCase
            do { built = try c.compile(bed: bed) } catch { XCTFail("\(error)"); continue }
            let original = try symbols(built.originalObject)
            let patched = try symbols(built.patchedObject)
            let module = Dictionary(grouping: try symbols(built.originalModule), by: \.name)
            for f in c.expectation.replaced {
                XCTAssertTrue(original.contains { $0.name == f.name && $0.isFunction },
                              "\(c.name): replaced \(f.name) is no function of orig/\(c.expectation.object)")
                XCTAssertTrue(patched.contains { $0.name == f.name && $0.isFunction },
                              "\(c.name): replaced \(f.name) is no function of patched/\(c.expectation.object)")
                checkSympos(f.name, f.sympos, in: module[f.name] ?? [], "\(c.name): \(c.moduleName).ko")
            }
            for name in c.expectation.new {
                XCTAssertTrue(patched.contains { $0.name == name && $0.isDefined }, "\(c.name): new \(name) not in patched")
                XCTAssertFalse(original.contains { $0.name == name }, "\(c.name): new \(name) already in orig")
            }
            for k in c.expectation.klp where k.object == c.moduleName {
                checkSympos(k.name, k.sympos, in: (module[k.name] ?? []).filter(\.isDefined),
                            "\(c.name): \(c.moduleName).ko")
            }
        }
    }

    func testCorpusCoversEveryGCCCloneKind() throws {
        var found: Set<String> = []
        let kinds = [".isra.", ".constprop.", ".part.", ".cold"]
        for c in CorpusCase.all(bed: bed) {
            let built = try c.compile(bed: bed)
            for symbol in try symbols(built.originalObject) where symbol.isFunction {
                found.formUnion(kinds.filter { symbol.name.contains($0) })
            }
        }
        XCTAssertEqual(found, Set(kinds), "clone kinds gcc produced in the corpus")
    }

    // MARK: - helpers

    private func checkSympos(_ name: String, _ sympos: Int, in found: [ELFSymbolLine], _ where_: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        if sympos == 0 {
            XCTAssertEqual(found.count, 1, "\(where_): \(name) with sympos 0 must be unique", file: file, line: line)
        } else {
            XCTAssertGreaterThan(found.count, 1, "\(where_): \(name) is unique, sympos must be 0", file: file, line: line)
            XCTAssertLessThanOrEqual(sympos, found.count, "\(where_): \(name) has no occurrence \(sympos)",
                                     file: file, line: line)
        }
    }

    private func sourceFiles(_ dir: URL) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
    }

    private func moduleSymvers() throws -> Set<String> {
        let text = try String(contentsOf: bed.headers.appendingPathComponent("Module.symvers"), encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count >= 3 && fields[2] == "vmlinux" ? String(fields[1]) : nil
        })
    }

    /// One line of `readelf -sW`: enough to check names, kinds and occurrences.
    struct ELFSymbolLine {
        let name: String
        let type: String
        let section: String
        var isFunction: Bool { type == "FUNC" }
        var isDefined: Bool { section != "UND" }
    }

    private func symbols(_ file: URL) throws -> [ELFSymbolLine] {
        try runChecked(["readelf", "-sW", file.path]).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 8, f[0].hasSuffix(":"), f[0] != "Num:" else { return nil }
            return ELFSymbolLine(name: String(f[7]), type: String(f[3]), section: String(f[6]))
        }
    }
}
