import Interruption
import Foundation
import XCTest
import TestSupport
@testable import KernelRuntime
@testable import PatchModel

/// SIGINT while apply's preflight runs: the controller stops before finit_module.
/// (Were it to go on, the host kernel, another release, would refuse the module:
/// nothing can load here either way, and the test would fail on that error.)
final class InterruptBeforeLoadingTests: XCTestCase {
    /// The flag is process-wide: every later test in this process would see the interrupt.
    override func tearDown() {
        Interruption.reset()
        XCTAssertFalse(Interruption.requested, "the interrupt flag outlived the test")
        super.tearDown()
    }

    func testInterruptBeforeLoadingLoadsNothing() throws {
        let bed = TestBed.shared
        let module = try KbuildModule().build("interrupt", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        let state = try bed.scratch("interrupt-state")
        defer {
            try? FileManager.default.removeItem(at: module)
            try? FileManager.default.removeItem(at: state)
        }
        var controller = LivepatchController()
        controller.sysfs = LivepatchSysfs(root: state.appendingPathComponent("no-livepatch").path)
        controller.log = TransitionLog(directory: state.path)
        controller.lockPath = state.appendingPathComponent("lock").path
        controller.useTracefs = false
        Interruption.install()
        raise(SIGINT)
        XCTAssertTrue(Interruption.requested)
        XCTAssertThrowsError(try controller.apply(modulePath: module.appendingPathComponent("kpvictim.ko").path,
                                                  preflight: Preflight(checks: []))) { error in
            guard case ControllerError.interruptedBeforeLoading(let name)? = error as? ControllerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(name, "kpvictim")
            XCTAssertTrue("\(error)".contains("nothing was loaded"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: controller.log.currentPath), "a transition record was started")
    }
}
