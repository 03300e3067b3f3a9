import XCTest
import TestSupport

/// `kpatchctl kthreads` in the guest: the kpvictim kthread is found with its
/// thread function and classified unconverted; workqueue workers converted.
final class KthreadsVMTests: XCTestCase {
    func testKthreadsListsKpvictimTickUnconvertedAndKworkersConverted() throws {
        let bed = TestBed.shared
        let victim = try KbuildModule().build("kpvictim-kthreads", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let vm = TestVM()
        let payload = try vm.payload("kthreads", script: """
            check insmod-kpvictim insmod /payload/kpvictim.ko
            sleep 1
            table=$(kpatchctl kthreads)
            expect_match table-tick-unconverted "$table" "kpvictim_tick +kpvictim_tick_fn +unconverted"
            expect_match table-kworker-converted "$table" "kworker/[^ ]+ +worker_thread +converted"
            expect_match table-kthreadd-converted "$table" "kthreadd +kthreadd +converted .*one kthread-creation request per iteration"
            expect_match table-ksoftirqd-converted "$table" "ksoftirqd/0 +smpboot_thread_fn +converted"
            kpatchctl kthreads --json > /tmp/kthreads.json && pass kthreads-json || fail kthreads-json "exit $?"
            echo KTHREADS-JSON-BEGIN; cat /tmp/kthreads.json; echo KTHREADS-JSON-END
            """, files: ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko")])
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 120)
        XCTAssertTrue(outcome.passed, outcome.report)
        for name in ["insmod-kpvictim", "table-tick-unconverted", "table-kworker-converted", "table-kthreadd-converted",
                     "table-ksoftirqd-converted", "kthreads-json"] {
            XCTAssertTrue(outcome.passed(name), "check \(name) did not pass:\n\(outcome.report)")
        }

        let threads = try Self.kthreadsJSON(in: outcome.consoleLog)
        let tick = threads.filter { $0["comm"] as? String == "kpvictim_tick" }
        XCTAssertEqual(tick.count, 1, "kpvictim_tick entries: \(tick)")
        XCTAssertEqual(tick.first?["entry"] as? String, "kpvictim_tick_fn")
        XCTAssertEqual(tick.first?["converted"] as? Bool, false)
        let tickFrames = (tick.first?["stack"] as? [[String: Any]]) ?? []
        XCTAssertTrue(tickFrames.contains { $0["function"] as? String == "kpvictim_tick_fn" && $0["module"] as? String == "kpvictim" },
                      "stack: \(tickFrames)")
        assertConverted(threads)
        let kworkers = threads.filter { ($0["comm"] as? String)?.hasPrefix("kworker/") == true && $0["entry"] != nil }
        XCTAssertFalse(kworkers.isEmpty)
        for worker in kworkers {
            XCTAssertEqual(worker["converted"] as? Bool, true, "\(worker)")
            XCTAssertTrue(["worker_thread", "rescuer_thread"].contains(worker["entry"] as? String ?? ""), "\(worker)")
        }
    }

    /// kthreadd, ksoftirqd and any irq thread are converted, each with its reason;
    /// every kthread's resident frames are its whole stack while it is idle.
    private func assertConverted(_ threads: [[String: Any]]) {
        func conversion(_ thread: [String: Any]) -> [String: Any] { thread["conversion"] as? [String: Any] ?? [:] }
        let expected: [(prefix: String, entry: String, reason: String)] = [
            ("kthreadd", "kthreadd", "one kthread-creation request per iteration"),
            ("ksoftirqd/", "smpboot_thread_fn", "each ht->thread_fn() call is one unit of work"),
            ("irq/", "irq_thread", "threaded interrupt handler"),
        ]
        for (prefix, entry, reason) in expected {
            let matching = threads.filter { ($0["comm"] as? String)?.hasPrefix(prefix) == true && $0["entry"] != nil }
            if prefix != "irq/" { XCTAssertFalse(matching.isEmpty, "no \(prefix) kthread with a known entry") }
            for thread in matching {
                XCTAssertEqual(thread["entry"] as? String, entry, "\(thread)")
                XCTAssertEqual(thread["converted"] as? Bool, true, "\(thread)")
                XCTAssertEqual(conversion(thread)["kind"] as? String, "converted", "\(thread)")
                XCTAssertTrue((conversion(thread)["reason"] as? String ?? "").contains(reason), "\(thread)")
            }
        }
        let kauditd = threads.first { $0["comm"] as? String == "kauditd" }
        XCTAssertEqual(kauditd.map(conversion)?["kind"] as? String, "unconverted", "\(String(describing: kauditd))")
        let resident = (kauditd?["residentFrames"] as? [[String: Any]])?.compactMap { $0["function"] as? String }
        XCTAssertEqual(resident?.first, "kauditd_thread")
    }

    /// The JSON the guest printed between its markers.
    static func kthreadsJSON(in console: String) throws -> [[String: Any]] {
        let lines = console.replacingOccurrences(of: "\r", with: "").split(separator: "\n", omittingEmptySubsequences: false)
        guard let begin = lines.firstIndex(of: "KTHREADS-JSON-BEGIN"),
              let end = lines[begin...].firstIndex(of: "KTHREADS-JSON-END") else {
            XCTFail("no JSON block in the console log")
            return []
        }
        let text = lines[(begin + 1)..<end].joined(separator: "\n")
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try XCTUnwrap(value as? [[String: Any]], "not an array of objects: \(text.prefix(200))")
    }
}
