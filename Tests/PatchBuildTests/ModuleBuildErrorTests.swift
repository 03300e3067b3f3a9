import XCTest
import TestSupport

/// Bad input to `kpatchctl build`: a clear error, a non-zero exit, no .ko, and the
/// user's tree as it was.
final class ModuleBuildErrorTests: XCTestCase {
    private var work: URL!
    private var victim: URL!

    override func setUpWithError() throws {
        let bed = TestBed.shared
        work = try bed.scratch("builderr")
        victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    private func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: victim.path) {
            files[name] = try Data(contentsOf: victim.appendingPathComponent(name))
        }
        return files
    }

    private func build(_ diffText: String, name: String = "t.diff") throws -> (CommandResult, URL) {
        let diff = work.appendingPathComponent(name)
        try diffText.write(to: diff, atomically: true, encoding: .utf8)
        let out = work.appendingPathComponent("out.ko")
        let result = try KpatchctlBinary().buildModulePatch(diff: diff, moduleSource: victim, output: out,
                                                            cache: work.appendingPathComponent("cache"))
        return (result, out)
    }

    func testDiffThatDoesNotApplyQuotesTheHunkAndChangesNothing() throws {
        let before = try snapshot()
        let (result, out) = try build("""
            --- a/kpvictim.c
            +++ b/kpvictim.c
            @@ -27,7 +27,7 @@
             {
            -\tint i, sum = 1000;
            +\tint i, sum = 2000;
             
             \tfor (i = 1; i < n; i++)
             \t\tsum += i;
             \treturn sum;
             }
            """)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("does not apply"), result.output)
        XCTAssertTrue(result.output.contains("hunk #1"), result.output)
        XCTAssertTrue(result.output.contains("-\tint i, sum = 1000;"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(try snapshot(), before)
    }

    func testMissingDiffAndMissingSourceAreNamed() throws {
        let out = work.appendingPathComponent("out.ko")
        let missingDiff = try KpatchctlBinary().buildModulePatch(
            diff: work.appendingPathComponent("nope.diff"), moduleSource: victim, output: out, cache: work)
        XCTAssertEqual(missingDiff.status, 1, missingDiff.output)
        XCTAssertTrue(missingDiff.output.contains("nope.diff does not exist"), missingDiff.output)
        let missingSource = try KpatchctlBinary().buildModulePatch(
            diff: TestBed.shared.root.appendingPathComponent("examples/kpvictim/fix.diff"),
            moduleSource: work.appendingPathComponent("nosuchdir"), output: out, cache: work)
        XCTAssertEqual(missingSource.status, 1, missingSource.output)
        XCTAssertTrue(missingSource.output.contains("nosuchdir does not exist"), missingSource.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testNotADiffIsRefused() throws {
        let (result, out) = try build("this is not a diff\n")
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("not a unified diff"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testChangedInitializedDataIsRefusedWithTheSymbolAndNoModule() throws {
        let before = try snapshot()
        let (result, out) = try build("""
            --- a/kpvictim.c
            +++ b/kpvictim.c
            @@ -16,7 +16,7 @@
             #include <linux/wait.h>
             #include <linux/atomic.h>
             
            -static atomic_long_t kpvictim_ticks = ATOMIC_LONG_INIT(0);
            +static atomic_long_t kpvictim_ticks = ATOMIC_LONG_INIT(7);
             static struct task_struct *kpvictim_thread;
             static DECLARE_WAIT_QUEUE_HEAD(kpvictim_waitq);
             static atomic_t kpvictim_release_gen = ATOMIC_INIT(0);
            """)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("kpvictim_ticks"), result.output)
        XCTAssertTrue(result.output.contains("cannot be built safely"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(try snapshot(), before)
    }

    func testCommentOnlyDiffIsNoChange() throws {
        let (result, out) = try build("""
            --- a/kpvictim.c
            +++ b/kpvictim.c
            @@ -26,6 +26,7 @@
             static noinline int kpvictim_sum(int n)
             {
             \tint i, sum = 0;
            +\t/* a comment changes no code */
             
             \tfor (i = 1; i < n; i++)
             \t\tsum += i;
            """)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("changes no function's code"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}

/// A module diff that changes only a header rebuilds the objects that include it
/// (from Kbuild's dependency files) and replaces the functions that changed.
final class ModuleHeaderChangeTests: XCTestCase {
    func testHeaderChangeRebuildsItsIncluders() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("modheader")
        defer { try? FileManager.default.removeItem(at: work) }
        let module = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: module)
        // The sum's bound moves into a header the source includes.
        let source = module.appendingPathComponent("kpvictim.c")
        var text = try String(contentsOf: source, encoding: .utf8)
        text = text.replacingOccurrences(of: "#include <linux/atomic.h>\n", with: "#include <linux/atomic.h>\n#include \"kpvictim.h\"\n")
            .replacingOccurrences(of: "kpvictim_sum(10)", with: "kpvictim_sum(KPVICTIM_N)")
        try text.write(to: source, atomically: true, encoding: .utf8)
        try "#define KPVICTIM_N 10\n".write(to: module.appendingPathComponent("kpvictim.h"), atomically: true, encoding: .utf8)
        let diff = work.appendingPathComponent("header.diff")
        try "--- a/kpvictim.h\n+++ b/kpvictim.h\n@@ -1 +1 @@\n-#define KPVICTIM_N 10\n+#define KPVICTIM_N 11\n"
            .write(to: diff, atomically: true, encoding: .utf8)
        let out = work.appendingPathComponent("p.ko")
        let result = try KpatchctlBinary().buildModulePatch(diff: diff, moduleSource: module, output: out,
                                                            cache: work.appendingPathComponent("cache"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("rebuilt kpvictim.o"), result.output)
        XCTAssertTrue(result.output.contains("kpvictim: kpvictim_sum"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }
}
