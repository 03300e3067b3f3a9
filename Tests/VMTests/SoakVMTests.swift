import XCTest
import TestSupport

/// scripts/soak in CI: 18 apply/revert cycles of three vmlinux patches and a module
/// patch in one boot (6 back to back, 3 with pauses, 9 under load: every phase with and
/// without tracefs probes; docs/RELIABILITY.md has the 200-cycle runs, made by hand): back to back right after boot, idle with pauses, then under
/// load (fork/exec, pipe and file I/O, readers of the patched /proc files, a CPU
/// loop per vCPU), alternating tracefs probes and --no-trace. Each cycle ends fully
/// patched, then fully unpatched; the kernel log stays clean (vm-run fails the run
/// on any lockup, RCU stall, hung task, WARN or BUG, and the guest checks dmesg).
final class SoakVMTests: XCTestCase {
    func testCyclesIdleAndUnderLoad() throws {
        let cycles = 18
        let result = try runCommand([TestBed.shared.script("soak").path, "--cycles", String(cycles)])
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("SOAK summary cycles=\(cycles)/\(cycles) traced=\(cycles / 2) polled=\(cycles / 2) ") },
                      result.output)
        for check in ["soak-all-cycles", "soak-nothing-loaded", "soak-dmesg-clean"] {
            XCTAssertTrue(lines.contains("KPTEST PASS \(check)"), "\(check):\n\(result.output)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("VM PASS") }, result.output)
        let done = Set(lines.filter { $0.hasPrefix("SOAK cycle ") })
        XCTAssertEqual(done.count, cycles, result.output)
        for phase in ["idle-burst", "idle-pause", "load"] {
            XCTAssertTrue(done.contains { $0.contains("phase=\(phase) trace=on") }, "\(phase) traced:\n\(result.output)")
            XCTAssertTrue(done.contains { $0.contains("phase=\(phase) trace=off") }, "\(phase) polled:\n\(result.output)")
        }
        for patch in ["lp_cmdline", "lp_meminfo", "lp_kallsyms_sympos", "livepatch_sum"] {
            XCTAssertTrue(done.contains { $0.contains("patch=\(patch) ") }, "\(patch):\n\(result.output)")
        }
    }
}
