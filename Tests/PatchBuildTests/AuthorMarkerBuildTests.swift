import XCTest
import TestSupport

/// kpatch-macros.h markers that only the builder sees: ignored functions and
/// sections, and a refusal for two callbacks of one kind in one object.
final class AuthorMarkerBuildTests: XCTestCase {
    private var work: URL!
    private var victim: URL!

    override func setUpWithError() throws {
        let bed = TestBed.shared
        work = try bed.scratch("author-markers")
        victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    private func build(_ diff: URL) throws -> (CommandResult, URL) {
        let out = work.appendingPathComponent("\(diff.deletingPathExtension().lastPathComponent).ko")
        let result = try KpatchctlBinary().buildModulePatch(diff: diff, moduleSource: victim, output: out,
                                                            cache: work.appendingPathComponent("cache"))
        return (result, out)
    }

    /// ignore.diff changes kpvictim_sum and kpvictim_tick_once and marks the latter.
    func testIgnoreFunctionLeavesTheChangedFunctionOutAndTheSummarySaysSo() throws {
        let (result, out) = try build(TestBed.shared.root.appendingPathComponent("examples/kpvictim/ignore.diff"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("replaces 1 function(s):\n  kpvictim: kpvictim_sum"), result.output)
        XCTAssertTrue(result.output.contains("ignored: kpvictim_tick_once (KPATCH_IGNORE_FUNCTION)"), result.output)
        // Left out entirely: no kthread warning for the tick kthread's function either.
        XCTAssertFalse(result.output.contains("kpvictim_tick_once reaches"), result.output)
        let info = try KpatchctlBinary().run(["info", out.path])
        XCTAssertEqual(info.status, 0, info.output)
        XCTAssertFalse(info.output.contains("kpvictim_tick_once ->"), info.output)
    }

    func testIgnoreSectionLeavesEverySymbolOfThatSectionOut() throws {
        let diff = work.appendingPathComponent("ignore-section.diff")
        let text = try String(contentsOf: TestBed.shared.root.appendingPathComponent("examples/kpvictim/ignore.diff"), encoding: .utf8)
            .replacingOccurrences(of: "+KPATCH_IGNORE_FUNCTION(kpvictim_tick_once);",
                                  with: "+KPATCH_IGNORE_SECTION(\".text.kpvictim_tick_once\");")
        try text.write(to: diff, atomically: true, encoding: .utf8)
        let (result, _) = try build(diff)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("replaces 1 function(s):\n  kpvictim: kpvictim_sum"), result.output)
        XCTAssertTrue(result.output.contains("ignored: kpvictim_tick_once in .text.kpvictim_tick_once (KPATCH_IGNORE_SECTION)"), result.output)
    }

    func testTwoPrePatchCallbacksInOneObjectAreRefused() throws {
        let diff = work.appendingPathComponent("two-callbacks.diff")
        let text = try String(contentsOf: TestBed.shared.root.appendingPathComponent("examples/kpvictim/veto.diff"), encoding: .utf8)
            .replacingOccurrences(of: "+KPATCH_PRE_PATCH_CALLBACK(kpvictim_veto_pre_patch);",
                                  with: "+KPATCH_PRE_PATCH_CALLBACK(kpvictim_veto_pre_patch);\n"
                                      + "+static int kpvictim_other_pre_patch(patch_object *obj) { return 0; }\n"
                                      + "+KPATCH_PRE_PATCH_CALLBACK(kpvictim_other_pre_patch);")
            .replacingOccurrences(of: "@@ -27,11 +28,19 @@", with: "@@ -27,11 +28,21 @@")
        try text.write(to: diff, atomically: true, encoding: .utf8)
        let (result, out) = try build(diff)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("2 pre-patch callbacks in one object"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    /// A callback that calls kpvictim_tick_once (the tick kthread's loop body):
    /// the stored kthread analysis treats it as patched, so build warns as for tick.diff.
    func testCallbackCalleesCountForTheKthreadAnalysis() throws {
        let diff = work.appendingPathComponent("callback-calls-tick.diff")
        let text = try String(contentsOf: TestBed.shared.root.appendingPathComponent("examples/kpvictim/shadow.diff"), encoding: .utf8)
            .replacingOccurrences(of: "+\tKPATCH_SHADOW_FREE_ALL(KPVICTIM_SHADOW_WRITES);", with: "+\tkpvictim_tick_once();")
        XCTAssertTrue(text.contains("+\tkpvictim_tick_once();"))
        try text.write(to: diff, atomically: true, encoding: .utf8)
        let (result, _) = try build(diff)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertFalse(result.output.contains("  kpvictim: kpvictim_tick_once"), "not replaced:\n\(result.output)")
        XCTAssertTrue(result.output.contains("kthread entry kpvictim_tick_fn reaches patched kpvictim_tick_once"), result.output)
    }
}
