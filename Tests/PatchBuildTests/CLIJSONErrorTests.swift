import Foundation
import XCTest
import PatchModel
import TestSupport

/// Every command's --json covers its errors: stdout is one JSON object with an
/// `error` field (and `exitCode`), nothing else, and the exit code is non-zero.
/// These errors happen before anything touches the kernel, so the host runs them.
final class CLIJSONErrorTests: XCTestCase {
    private func jsonError(_ arguments: [String], binary: URL? = nil, expectedExit: Int32,
                           file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try runCommand([(binary ?? TestBed.shared.releaseBinary).path] + arguments)
        XCTAssertEqual(result.status, expectedExit, result.output, file: file, line: line)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
                                   result.output, file: file, line: line)
        let error = try XCTUnwrap(object["error"] as? String, result.output, file: file, line: line)
        XCTAssertFalse(error.isEmpty, file: file, line: line)
        XCTAssertEqual(object["exitCode"] as? Int, Int(expectedExit), result.output, file: file, line: line)
        return object
    }

    func testInfoErrorsAreJSON() throws {
        let missing = try jsonError(["info", "--json", "/nonexistent/patch.ko"], expectedExit: 2)
        XCTAssertTrue((missing["error"] as! String).contains("/nonexistent/patch.ko"))
        let dir = try TestBed.shared.scratch("json-info")
        defer { try? FileManager.default.removeItem(at: dir) }
        let garbage = dir.appendingPathComponent("garbage.ko")
        try Data("not a module".utf8).write(to: garbage)
        _ = try jsonError(["info", "--json", garbage.path], expectedExit: 2)
    }

    func testKthreadsErrorIsJSON() throws {
        let object = try jsonError(["kthreads", "--json", "--proc", "/nonexistent-proc"], expectedExit: 1)
        XCTAssertTrue((object["error"] as! String).contains("nonexistent-proc"), "\(object)")
    }

    func testCallgraphErrorIsJSON() throws {
        let object = try jsonError(["callgraph", "--json", "--from-dwarf", "/nonexistent/vmlinux", "--reaches", "f"], expectedExit: 1)
        XCTAssertTrue((object["error"] as! String).contains("/nonexistent/vmlinux"), "\(object)")
    }

    func testBuildTemplateLookupErrorIsJSON() throws {
        // A copy of the binary where no kmod/ is reachable from it, and no KPATCHCTL_KMOD.
        let dir = try TestBed.shared.scratch("json-template")
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("a/b/c/kpatchctl")
        try FileManager.default.createDirectory(at: binary.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestBed.shared.releaseBinary, to: binary)
        let diff = TestBed.shared.root.appendingPathComponent("examples/kpvictim/fix.diff")
        let object = try jsonError(["build", "--json", diff.path, "--module-src", dir.path], binary: binary, expectedExit: 1)
        XCTAssertTrue((object["error"] as! String).contains("kmod/kpatch-patch.c was not found"), "\(object)")
    }

    func testApplyKthreadReportErrorIsJSON() throws {
        // A patch whose kthread analysis record is corrupt (its KPKR magic broken):
        // apply cannot evaluate it and refuses, before any other check, in JSON.
        let bed = TestBed.shared
        let work = try bed.scratch("json-apply")
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = try KbuildModule().build("json-apply-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        let patch = work.appendingPathComponent("livepatch_json.ko")
        let build = try KpatchctlBinary().buildModulePatch(
            diff: bed.root.appendingPathComponent("examples/kpvictim/fix.diff"), moduleSource: victim, output: patch,
            cache: work.appendingPathComponent("cache"), extra: ["--name", "livepatch_json"])
        XCTAssertEqual(build.status, 0, build.output)
        var bytes = [UInt8](try Data(contentsOf: patch))
        let magic = Array("KPKR".utf8)
        let at = try XCTUnwrap((0...(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == magic }, "no KPKR record")
        bytes[at + 3] = UInt8(ascii: "X")
        try Data(bytes).write(to: patch)
        let object = try jsonError(["apply", "--json", patch.path], expectedExit: 2)
        XCTAssertNil(object["kthreadSafety"] as? [String: Any])
    }

    func testHelpParagraphsHaveNoHardLineBreaks() throws {
        let dump = try runCommand([TestBed.shared.releaseBinary.path, "--experimental-dump-help"])
        XCTAssertEqual(dump.status, 0, dump.output)
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dump.output.utf8)) as? [String: Any])
        var commands = [try XCTUnwrap(root["command"] as? [String: Any])]
        var seen = 0
        while let command = commands.popLast() {
            seen += 1
            commands += command["subcommands"] as? [[String: Any]] ?? []
            for text in [command["discussion"] as? String, command["abstract"] as? String].compactMap({ $0 }) {
                for paragraph in text.components(separatedBy: "\n\n") {
                    XCTAssertFalse(paragraph.trimmingCharacters(in: .newlines).contains("\n"),
                                   "\(command["commandName"] ?? "?"): a hard line break in: \(paragraph)")
                }
            }
        }
        XCTAssertGreaterThan(seen, 10)
    }
}
