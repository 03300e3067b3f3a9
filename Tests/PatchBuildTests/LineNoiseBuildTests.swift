import XCTest
import TestSupport

/// Code that moved lines but did not change is nothing to patch, in a real object: kpatch's
/// `warn-detect` integration patch adds one blank line on top of arch/x86/kvm/x86.c, which
/// shifts every `__LINE__` after it (WARN_ON's bug entries, might_sleep()'s arguments, line
/// numbers inside string literals). kvm.ko's x86.o, compiled original and patched by the
/// pinned kernel's Kbuild: no function changes.
final class LineNoiseBuildTests: XCTestCase {
    func testBlankLineOnTopOfKvmX86IsNothingToPatch() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("line-noise")
        defer { try? FileManager.default.removeItem(at: work) }
        let ko = work.appendingPathComponent("p.ko")
        let result = try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/kvm-x86-blank-line.diff"),
                                                            output: ko)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("[rebuild] rebuilt arch/x86/kvm/x86.o"), result.output)
        XCTAssertTrue(result.output.contains("[diff] arch/x86/kvm/x86.o: no function changed"), result.output)
        XCTAssertTrue(result.output.contains("error: the diff changes no function's code: there is nothing to live-patch"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ko.path))
    }
}
