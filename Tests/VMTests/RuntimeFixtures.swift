import XCTest
import Foundation
import TestSupport
import PatchModel

/// The modules the runtime VM tests load: kpvictim and the hand-written
/// livepatch fixtures of Tests/Fixtures, built once per test run.
enum RuntimeFixtures {
    struct Modules {
        let directories: [URL]
        let kpvictim: URL
        /// `kpatchctl build examples/kpvictim/fix.diff --name livepatch_sum`.
        let livepatchSum: URL
        /// `kpatchctl build examples/kpvictim/wait.diff --name livepatch_wait`:
        /// kpvictim_wait_show answers "patched" without waiting.
        let livepatchWait: URL
        /// `examples/kpvictim/wait-message.diff`: kpvictim_wait_show still waits
        /// (calling the module's static kpvictim_wait_release) and says "released (patched)".
        let livepatchWaitMessage: URL
        /// livepatch_wait.ko with its import of seq_puts renamed to seq_putz: the
        /// kernel refuses it (Unknown symbol, ENOENT) after every preflight passed.
        let unknownSymbol: URL
        /// A livepatch module written by hand (Tests/Fixtures/livepatch-sum): no
        /// kpatchctl metadata, so apply needs --foreign.
        let foreign: URL

        var payloadFiles: [String: URL] {
            ["kpvictim.ko": kpvictim, "livepatch_sum.ko": livepatchSum, "livepatch_wait.ko": livepatchWait,
             "livepatch_waitmsg.ko": livepatchWaitMessage,
             "unknown_symbol.ko": unknownSymbol, "foreign_sum.ko": foreign]
        }

        func remove() {
            for dir in directories { try? FileManager.default.removeItem(at: dir) }
        }
    }

    /// Builds kpvictim as the user deploys it and the patches for it with
    /// `kpatchctl build`, into scratch directories the caller removes.
    static func build() throws -> Modules {
        let bed = TestBed.shared
        let kbuild = KbuildModule()
        let victim = try kbuild.build("kpvictim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        let patches = try bed.scratch("runtime-patches")
        func patch(_ diff: String, _ name: String) throws -> URL {
            let out = patches.appendingPathComponent("\(name).ko")
            let result = try KpatchctlBinary().buildModulePatch(
                diff: bed.root.appendingPathComponent("examples/kpvictim/\(diff)"), moduleSource: victim, output: out,
                cache: bed.buildCache, extra: ["--name", name])  // originals shared by every test process
            guard result.status == 0 else { throw TestBedError.commandFailed("kpatchctl build \(diff)", result.status, result.output) }
            return out
        }
        let sum = try patch("fix.diff", "livepatch_sum")
        let wait = try patch("wait.diff", "livepatch_wait")
        let waitMessage = try patch("wait-message.diff", "livepatch_waitmsg")
        var bytes = try Data(contentsOf: wait)
        let from = Data("seq_puts\0".utf8), to = Data("seq_putz\0".utf8)
        var renamed = 0
        while let range = bytes.range(of: from) {
            bytes.replaceSubrange(range, with: to)
            renamed += 1
        }
        guard renamed > 0 else { throw TestBedError.commandFailed("no seq_puts in \(wait.path)", 1, "") }
        let unknown = patches.appendingPathComponent("unknown_symbol.ko")
        try bytes.write(to: unknown)
        let foreign = try kbuild.build("livepatch-sum", sources: bed.root.appendingPathComponent("Tests/Fixtures/livepatch-sum"))
        return Modules(directories: [victim, patches, foreign], kpvictim: victim.appendingPathComponent("kpvictim.ko"),
                       livepatchSum: sum, livepatchWait: wait, livepatchWaitMessage: waitMessage, unknownSymbol: unknown,
                       foreign: foreign.appendingPathComponent("livepatch_sum.ko"))
    }

    /// Guest lines `KPJSON <label> <json>` carry JSON out through the console.
    static func json<T: Decodable>(_ type: T.Type, label: String, in outcome: TestVM.Outcome) throws -> T {
        let prefix = "KPJSON \(label) "
        guard let line = outcome.consoleLog.replacingOccurrences(of: "\r", with: "")
            .split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            throw TestBedError.commandFailed("no \(prefix)line on the console", 1, outcome.report)
        }
        return try JSONDecoder().decode(T.self, from: Data(line.dropFirst(prefix.count).utf8))
    }

    /// Guest lines `KPVAR name=value`.
    static func variable(_ name: String, in outcome: TestVM.Outcome) -> String? {
        let prefix = "KPVAR \(name)="
        return outcome.consoleLog.replacingOccurrences(of: "\r", with: "").split(separator: "\n")
            .first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
}

/// A VM test class whose guests get kpvictim and the runtime's patches
/// (RuntimeFixtures), built once per class.
class RuntimeVMTestCase: XCTestCase {
    private static var modules: Result<RuntimeFixtures.Modules, Error>!

    override class func setUp() {
        modules = Result { try RuntimeFixtures.build() }
    }

    override class func tearDown() {
        (try? modules.get())?.remove()
    }

    func boot(_ label: String, _ script: String, timeout: Int = 180, files: [String: URL] = [:]) throws -> TestVM.Outcome {
        let modules = try Self.modules.get()
        let vm = TestVM()
        let payload = try vm.payload(label, script: script, files: modules.payloadFiles.merging(files) { _, extra in extra })
        defer { try? FileManager.default.removeItem(at: payload) }
        return try vm.run(payload: payload, timeout: timeout)
    }

    func assertPassed(_ outcome: TestVM.Outcome, _ names: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertChecksPassed(outcome, names, file: file, line: line)
    }
}
