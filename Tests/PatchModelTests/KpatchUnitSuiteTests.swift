import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// kpatch's own differ unit suite as a conformance test: every pair of
/// `../shared/peer/kpatch-unit-test-objs` through our differ, judged by kpatch's
/// rule (a FAIL pair is refused; otherwise the output has `assert_num_funcs`
/// function symbols). Deviations are listed here with their reason and in
/// docs/CORPUS.md; a listed pair that starts passing fails the test, so the list
/// stays true.
final class KpatchUnitSuiteTests: XCTestCase {
    /// Pairs whose special-section structs are not 6.1's (the suite's README).
    static let otherLayouts: Set<String> = [
        "ASSERT_RTNL-detect", "convert-global-local", "data-read-mostly", "fixup-section", "gcc-constprop-cold",
        "gcc-constprop", "jump-label-issue-946", "mangled-symbol-modification-issue-1048", "replace-section-references",
        "secsym-issue-1193", "special-static-2", "special-static", "static-call-issue-1165", "tracepoints-section",
        "warn-detect",
    ]

    /// Pairs the README counts among 6.1's layout whose tables say otherwise; read
    /// with kpatch's harness sizes: clang-lstr's .altinstructions is 26 bytes, two
    /// 13-byte `alt_instr` of an older kernel (6.1's is 12), altinstr_aux's 286 bytes 22 of them.
    static let harnessLayoutInstead: Set<String> = ["clang-lstr", "altinstr_aux"]

    /// Deviations where the replaced function is kpatch's and only the symbol count differs.
    static let countOnly: Set<String> = ["cmdline-ubsan", "cold-change-parent"]

    /// Pairs of 6.1's layout where our answer differs from kpatch's rule, with the reason (docs/CORPUS.md).
    static let deviations: [String: String] = [
        "cmdline-ubsan": "same replaced function; kpatch also counts the __pfx_cmdline_proc_show padding symbol, which our patch object does not carry",
        "cold-change-parent": "same replaced function; we carry its unchanged .cold child with it, since the child jumps back into its parent",
    ]

    private func pairs() throws -> [KpatchUnitPair] {
        let dir = KpatchUnitPair.directory
        guard FileManager.default.fileExists(atPath: dir.path) else {
            throw TestBedError.fixture("\(dir.path) is missing: kpatch's unit-test objects are read from shared/peer beside the checkout")
        }
        let all = try KpatchUnitPair.all()
        XCTAssertEqual(all.count, 54, "pairs in \(dir.path)")
        return all
    }

    /// The 39 pairs whose layout is 6.1's, read with the pinned kernel's BTF layout.
    func testPairsOf61LayoutFollowKpatchsRule() throws {
        let compatible = try pairs().filter { !Self.otherLayouts.contains($0.name) }
        XCTAssertEqual(compatible.count, 39)
        let passed = try check(compatible, layout: { pair in
            let layout = try DifferFixture.layout.get()
            return Self.harnessLayoutInstead.contains(pair.name) ? try layout.overriding(structSizes: pair.harnessStructSizes) : layout
        }, label: "6.1")
        // All 39, counting the pairs whose replaced set is kpatch's and only the count differs (the goal: 37).
        XCTAssertEqual(passed + Self.countOnly.count, 39, "pairs of 6.1's layout that follow kpatch's rule")
    }

    /// The 15 pairs of other kernels, read with the struct sizes kpatch's harness passes
    /// (its Makefile's CDO_ENV and the pair's .env) through the explicit layout option:
    /// each follows kpatch's rule or gives no patch for a named reason, never a wrong one.
    func testPairsOfOtherLayoutsFollowKpatchsRuleOrAreRefusedWithHarnessStructSizes() throws {
        let others = try pairs().filter { Self.otherLayouts.contains($0.name) }
        XCTAssertEqual(others.count, Self.otherLayouts.count)
        let scratch = try DifferFixture.bed.scratch("kpatch-unit")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var passed = 0
        for pair in others {
            let verdict = pair.run(layout: try DifferFixture.layout.get().overriding(structSizes: pair.harnessStructSizes), scratch: scratch)
            print("kpatch-unit [harness] \(pair.name): \(verdict)")
            if let refusal = Self.harnessRefused[pair.name] {
                guard case .refused(let why) = verdict else {
                    XCTFail("\(pair.name) is no longer refused for \(refusal.names) (\(verdict)): drop it from harnessRefused and docs/CORPUS.md")
                    continue
                }
                XCTAssertTrue(why.contains(refusal.names), "\(pair.name) is refused for another reason: \(why)")
            } else {
                XCTAssertTrue(verdict.passed, "\(pair.name): \(verdict)")
            }
            if verdict.passed { passed += 1 }
        }
        print("kpatch-unit [harness]: \(passed) of \(others.count) pairs follow kpatch's rule, the others give no patch for a named reason")
        XCTAssertEqual(passed, others.count - Self.harnessRefused.count)
    }

    /// Pairs of other layouts that give no patch, with what the refusal names and why
    /// (docs/CORPUS.md); kpatch builds them. Every other pair follows kpatch's rule.
    static let harnessRefused: [String: (names: String, why: String)] = [
        "ASSERT_RTNL-detect": (".altinstructions", "1260 bytes are 105 12-byte alt_instr, not the harness's 13-byte ones"),
    ]

    /// An explicit size for a struct the differ does not know is an error, not ignored.
    func testLayoutOptionRejectsUnknownStruct() throws {
        XCTAssertThrowsError(try DifferFixture.layout.get().overriding(structSizes: ["no_such_entry": 8])) { error in
            XCTAssertTrue("\(error)".contains("no_such_entry"), "\(error)")
        }
        XCTAssertEqual(try DifferFixture.layout.get().overriding(structSizes: ["jump_entry": 24]).entrySizes["__jump_table"], 24)
    }

    /// Runs every pair; asserts kpatch's rule except for the listed deviations
    /// (which must still deviate); returns how many passed.
    private func check(_ pairs: [KpatchUnitPair], layout: (KpatchUnitPair) throws -> SpecialSectionLayout, label: String) throws -> Int {
        let scratch = try DifferFixture.bed.scratch("kpatch-unit")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var passed = 0
        for pair in pairs {
            let verdict = pair.run(layout: try layout(pair), scratch: scratch)
            print("kpatch-unit [\(label)] \(pair.name): \(verdict)")
            if verdict.passed { passed += 1 }
            if let deviation = Self.deviations[pair.name] {
                XCTAssertFalse(verdict.passed, "\(pair.name) now follows kpatch's rule: drop its deviation (\(deviation)) here and in docs/CORPUS.md")
            } else {
                XCTAssertTrue(verdict.passed, "\(pair.name): \(verdict)")
            }
        }
        print("kpatch-unit [\(label)]: \(passed) of \(pairs.count) pairs follow kpatch's rule")
        return passed
    }
}
