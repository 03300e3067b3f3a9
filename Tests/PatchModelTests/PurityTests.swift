import Foundation
import XCTest

/// PatchModel is the pure model (docs/ARCHITECTURE.md): it reads and writes only the
/// files it is given. This fails when its code (comments aside) imports CKernel,
/// calls process control, signal, sleep or lock functions, or names a path of the
/// running system; such code belongs in KernelRuntime (or PatchBuild).
final class PurityTests: XCTestCase {
    static let forbidden: [(pattern: String, why: String)] = [
        (#"^\s*import\s+(CKernel|KernelRuntime|PatchBuild|KthreadSafety)\b"#, "imports a target above the model"),
        (#"\b(finit_module|delete_module|kill|fork|vfork|posix_spawn\w*|exec[lv]\w*|system|popen|signal|sigaction|raise|flock|lockf|nanosleep|usleep|sleep|uname|clock_gettime|ptrace|syscall|ioctl|mount)\("#,
         "calls a process, signal, sleep, lock or system API"),
        (#"\bProcess\("#, "spawns a process"),
        (#""/(proc|sys|run|var|lib/modules|etc)(/|")"#, "names a path of the running system"),
        (#""/dev/(?!null")"#, "names a device of the running system"),
    ]

    func testPatchModelTouchesNoRunningSystem() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/PatchModel").standardizedFileURL
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 50, "PatchModel's sources not found at \(sources.path)")
        let rules = try Self.forbidden.map { (try NSRegularExpression(pattern: $0.pattern), $0.why) }
        var violations: [String] = []
        for file in files.sorted() {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                // Comments may name what the code leaves to the runtime.
                let code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                let range = NSRange(code.startIndex..., in: code)
                for (rule, why) in rules where rule.firstMatch(in: code, range: range) != nil {
                    violations.append("Sources/PatchModel/\(file):\(number + 1): \(why): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        XCTAssertEqual(violations, [], "move this code to KernelRuntime:\n" + violations.joined(separator: "\n"))
    }
}
