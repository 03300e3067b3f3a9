import Foundation
import XCTest
import TestSupport

/// Every `try?` in Sources/ is a reviewed site of scripts/try-allowlist.txt, with
/// a reason, and every entry there still matches a line (issue 18: errors a user
/// needs are never swallowed).
final class TryAllowlistTests: XCTestCase {
    func testEveryTryQuestionMarkInSourcesIsAllowlisted() throws {
        let root = TestBed.shared.root
        let listFile = root.appendingPathComponent("scripts/try-allowlist.txt")
        var allowed: Set<String> = []
        var malformed: [String] = []
        for raw in try String(contentsOf: listFile, encoding: .utf8).split(separator: "\n") {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            let fields = entry.components(separatedBy: " | ")
            guard fields.count >= 3, fields[0].hasPrefix("Sources/"),
                  !fields.last!.trimmingCharacters(in: .whitespaces).isEmpty else {
                malformed.append(entry)
                continue
            }
            allowed.insert(fields[0] + " | " + fields[1..<(fields.count - 1)].joined(separator: " | "))
        }
        XCTAssertEqual(malformed, [], "entries of \(listFile.path) are FILE | LINE | REASON")

        var used: Set<String> = []
        var unlisted: [String] = []
        let sources = root.appendingPathComponent("Sources")
        let walker = try XCTUnwrap(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var files: [URL] = []
        for case let url as URL in walker where url.pathExtension == "swift" { files.append(url) }
        XCTAssertFalse(files.isEmpty, "no Swift files under \(sources.path)")
        for url in files.sorted(by: { $0.path < $1.path }) {
            let relative = "Sources/" + url.standardizedFileURL.path.dropFirst(sources.standardizedFileURL.path.count + 1)
            let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            for (number, raw) in lines.enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                guard !line.hasPrefix("//"), Self.containsTryQuestionMark(line) else { continue }
                let key = "\(relative) | \(line)"
                if allowed.contains(key) { used.insert(key) } else { unlisted.append("\(relative):\(number + 1): \(line)") }
            }
        }
        XCTAssertEqual(unlisted, [], "`try?` outside scripts/try-allowlist.txt: report the error, or add the line "
                       + "with the reason nil is right (FILE | LINE | REASON):\n" + unlisted.joined(separator: "\n"))
        let stale = allowed.subtracting(used).sorted()
        XCTAssertEqual(stale, [], "entries of scripts/try-allowlist.txt that match no line any more: remove them:\n"
                       + stale.joined(separator: "\n"))
    }

    func testTheScannerFindsTheKeywordOnly() {
        XCTAssertTrue(Self.containsTryQuestionMark("let x = try? f()"))
        XCTAssertTrue(Self.containsTryQuestionMark("(try? f()) ?? 0"))
        XCTAssertTrue(Self.containsTryQuestionMark("try? f()"))
        XCTAssertFalse(Self.containsTryQuestionMark("let w = threads.map { $0.entry?.count ?? 1 }"))
        XCTAssertFalse(Self.containsTryQuestionMark("let x = try f()"))
        XCTAssertFalse(Self.containsTryQuestionMark("let country? = nil"))
    }

    /// `try?` as the keyword, not the end of an identifier (`entry?`).
    static func containsTryQuestionMark(_ line: String) -> Bool {
        var rest = line[...]
        while let found = rest.range(of: "try?") {
            if found.lowerBound == line.startIndex { return true }
            let before = line[line.index(before: found.lowerBound)]
            if !(before.isLetter || before.isNumber || before == "_") { return true }
            rest = line[found.upperBound...]
        }
        return false
    }
}
