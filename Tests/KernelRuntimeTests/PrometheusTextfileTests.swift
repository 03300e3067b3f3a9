import Foundation
import XCTest
@testable import KernelRuntime
@testable import PatchModel

/// The textfile's format: node-exporter rejects a whole file on one bad line.
final class PrometheusTextfileTests: XCTestCase {
    func testMetricsHaveHelpTypeAndTheStateValues() throws {
        var record = TransitionRecord(patch: "livepatch_fix", direction: .patching, startedAt: 1_700_000_000, tracking: "tracefs")
        record.endedAt = 1_700_000_001.5
        record.outcome = .reversed
        let blocker = BlockingTask(task: KernelTask(pid: 7, tid: 7, comm: "cat", isKthread: false, patchState: .unpatched),
                                   patchedFunctionsOnStack: ["kpvictim_wait_show"], stack: [], lastStackCheck: nil)
        let running = TransitionStatus(direction: .patching, ageSeconds: 3, migrated: 1, total: 2, blockers: [blocker])
        let status = StatusReport(patches: [
            PatchStatus(name: "livepatch_fix", enabled: true, transition: false, objects: [], running: nil),
            PatchStatus(name: "odd\"name", enabled: true, transition: true, objects: [], running: running),
        ], lock: nil, lastTransition: TransitionSummary(record))
        let text = PrometheusTextfile.render(status, installedNotLoaded: 2)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("kpatchctl_patches_loaded 2"), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_patch_enabled{patch="livepatch_fix"} 1"#), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_patch_in_transition{patch="odd\"name"} 1"#), text)
        XCTAssertTrue(lines.contains("kpatchctl_transition_stalled_tasks 1"), text)
        XCTAssertTrue(lines.contains("kpatchctl_installed_not_loaded_patches 2"), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_last_transition_duration_seconds{patch="livepatch_fix",direction="patching"} 1.5"#), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_last_transition_outcome{patch="livepatch_fix",direction="patching",outcome="reversed"} 1"#), text)
        XCTAssertTrue(lines.contains(#"kpatchctl_last_transition_outcome{patch="livepatch_fix",direction="patching",outcome="completed"} 0"#), text)
        // Every sample's metric has HELP and TYPE lines before it, and names follow the conventions.
        var declared: Set<String> = []
        for line in lines {
            if line.hasPrefix("# TYPE ") { declared.insert(String(line.split(separator: " ")[2])) }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            XCTAssertTrue(declared.contains(name), "no TYPE before \(line)")
            XCTAssertTrue(name.hasPrefix("kpatchctl_"), name)
            XCTAssertTrue(name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
                          && !(name.first?.isNumber ?? true), name)
        }
        XCTAssertEqual(lines.filter { $0.hasPrefix("# HELP ") }.count, declared.count)
        XCTAssertTrue(text.hasSuffix("\n"))
    }
}
