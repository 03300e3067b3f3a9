import XCTest

/// Asserts that the guest run passed and that each named check reported PASS.
public func XCTAssertChecksPassed(_ outcome: TestVM.Outcome, _ names: [String],
                                  file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(outcome.passed, outcome.report, file: file, line: line)
    for name in names {
        XCTAssertTrue(outcome.passed(name), "check \(name) did not pass:\n\(outcome.report)", file: file, line: line)
    }
}
