import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// The kernel's rule for system states, checked before loading.
final class SystemStateRuleTests: XCTestCase {
    func testSystemStateRuleFollowsTheKernel() {
        let v1 = AppliedPatch(name: "livepatch_v1", appliedAt: 0, cumulative: false, replaced: [],
                              states: [SystemState(id: 1, version: 2)])
        // Same or newer version: accepted, cumulative or not.
        XCTAssertEqual(SystemStateRule.conflicts(patch: "v2", states: [.init(id: 1, version: 2)], replace: true, running: [v1]), [])
        XCTAssertEqual(SystemStateRule.conflicts(patch: "v2", states: [.init(id: 1, version: 3)], replace: false, running: [v1]), [])
        // Older version: a downgrade, refused.
        let downgrade = SystemStateRule.conflicts(patch: "v2", states: [.init(id: 1, version: 1)], replace: true, running: [v1])
        XCTAssertEqual(downgrade, ["state 1: running patch livepatch_v1 set it up at version 2, v2 handles version 1 only; "
                                   + "the kernel refuses to downgrade a system state"])
        // Not declared: fine beside the running patch, refused when replacing it.
        XCTAssertEqual(SystemStateRule.conflicts(patch: "v2", states: [], replace: false, running: [v1]), [])
        XCTAssertEqual(SystemStateRule.conflicts(patch: "v2", states: [], replace: true, running: [v1]).count, 1)
    }
}
