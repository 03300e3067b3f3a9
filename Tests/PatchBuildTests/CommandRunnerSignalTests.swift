import Foundation
import XCTest
@testable import PatchBuild

/// Commands start with no signal blocked, whichever thread starts them: a worker thread
/// of Swift concurrency blocks nearly every signal, and a shell that inherited a blocked
/// SIGCHLD waited for its background jobs forever (a hung `build --deb` for two releases).
final class CommandRunnerSignalTests: XCTestCase {
    func testCommandsStartWithNoSignalBlockedFromAThreadThatBlocksThemAll() throws {
        let box = ResultBox()
        let thread = Thread {
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            box.set(Result {
                let mask = try CommandRunner.run(["grep", "^SigBlk:", "/proc/self/status"]).output
                // The shape that hung: background jobs, then `wait` in sh (dash).
                let waited = try CommandRunner.run(["sh", "-c", "sleep 0.3 & sleep 0.3 & wait; echo waited"])
                return (mask, waited)
            })
        }
        thread.start()
        // A hang is the failure this test looks for: give up after 60 s instead of waiting with it.
        XCTAssertEqual(box.done.wait(timeout: .now() + 60), .success, "the commands did not finish within 60 s")
        let (mask, waited) = try XCTUnwrap(box.get(), "no result").get()
        XCTAssertEqual(mask.trimmingCharacters(in: .whitespacesAndNewlines), "SigBlk:\t0000000000000000")
        XCTAssertEqual(waited.status, 0, waited.output)
        XCTAssertEqual(waited.output.trimmingCharacters(in: .whitespacesAndNewlines), "waited")
    }
}

/// The spawning thread's result, handed to the test's thread.
private final class ResultBox: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<(mask: String, waited: CommandRunner.Result), Error>?
    func set(_ value: Result<(mask: String, waited: CommandRunner.Result), Error>) {
        lock.withLock { result = value }
        done.signal()
    }
    func get() -> Result<(mask: String, waited: CommandRunner.Result), Error>? { lock.withLock { result } }
}
