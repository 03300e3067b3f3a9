import Foundation
import XCTest
@testable import KernelRuntime
import PatchModel

/// status lists livepatch modules loaded without a patch in /sys/kernel/livepatch
/// (a kpatchctl killed before it unloaded one): a fixture tree laid out as /sys/module.
final class UnregisteredModulesTests: XCTestCase {
    func testLivepatchModulesWithoutAPatchAreListed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysmodule-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func make(_ path: String, _ text: String) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try make("livepatch_left/initstate", "live\n")
        try make("livepatch_left/taint", "OEK\n")
        try make("livepatch_coming/initstate", "coming\n")
        try make("livepatch_coming/taint", "OEK\n")
        try make("livepatch_sum/initstate", "live\n")      // registered: in sysfs
        try make("livepatch_sum/taint", "OEK\n")
        try make("kpvictim/initstate", "live\n")           // not a livepatch
        try make("kpvictim/taint", "OE\n")
        try make("printk/parameters/time", "Y\n")          // built in: no initstate
        let found = try StatusReport.unregisteredModules(registered: ["livepatch_sum"], sysModule: root.path)
        XCTAssertEqual(found.map(\.name), ["livepatch_coming", "livepatch_left"])
        XCTAssertEqual(found.map(\.state), ["coming", "live"])
        XCTAssertThrowsError(try StatusReport.unregisteredModules(registered: [], sysModule: root.path + "/missing"))
    }
}
