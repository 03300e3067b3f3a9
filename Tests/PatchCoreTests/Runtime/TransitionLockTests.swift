import Foundation
import XCTest
@testable import PatchCore

final class TransitionLockTests: XCTestCase {
    func testSecondHolderIsRefusedWithTheFirstPid() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("lock").path
        var first: TransitionLock? = try TransitionLock(path: path)
        XCTAssertThrowsError(try TransitionLock(path: path)) { error in
            let e = error as? TransitionLockError
            XCTAssertEqual(e?.holder, Int(getpid()))
            XCTAssertTrue("\(error)".contains("is applying or reverting"), "\(error)")
        }
        first = nil
        XCTAssertNil(first)
        XCTAssertNoThrow(try TransitionLock(path: path))
    }
}
