import XCTest
import Foundation
import TestSupport
import PatchModel

/// The modules the runtime VM tests load: kpvictim and the hand-written
/// livepatch fixtures of Tests/Fixtures, built once per test run for every test process
/// (`ContentStore` area `runtime-fixtures`, keyed by their sources, the diffs and kpatchctl).
enum RuntimeFixtures {
    struct Modules {
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

        init(_ dir: URL) {
            let patches = dir.appendingPathComponent("patches")
            kpvictim = dir.appendingPathComponent("victim/kpvictim.ko")
            livepatchSum = patches.appendingPathComponent("livepatch_sum.ko")
            livepatchWait = patches.appendingPathComponent("livepatch_wait.ko")
            livepatchWaitMessage = patches.appendingPathComponent("livepatch_waitmsg.ko")
            unknownSymbol = patches.appendingPathComponent("unknown_symbol.ko")
            foreign = dir.appendingPathComponent("foreign/livepatch_sum.ko")
        }

        var payloadFiles: [String: URL] {
            ["kpvictim.ko": kpvictim, "livepatch_sum.ko": livepatchSum, "livepatch_wait.ko": livepatchWait,
             "livepatch_waitmsg.ko": livepatchWaitMessage,
             "unknown_symbol.ko": unknownSymbol, "foreign_sum.ko": foreign]
        }
    }

    /// Builds kpvictim as the user deploys it and the patches for it with `kpatchctl build`,
    /// or finds them built by an earlier test process.
    static func build() throws -> Modules {
        let bed = TestBed.shared
        let examples = bed.root.appendingPathComponent("examples/kpvictim")
        let handWritten = bed.root.appendingPathComponent("Tests/Fixtures/livepatch-sum")
        let key = ContentKey("runtime fixtures")
        try key.addKpatchctl(bed: bed)
        try key.add(tree: examples)
        try key.add(tree: handWritten)
        let dir = try ContentStore.shared.entry("runtime-fixtures", name: "kpvictim", key: key, bed: bed) { dir in
            let kbuild = KbuildModule(bed: bed)
            let victim = try kbuild.build("kpvictim", sources: examples, into: dir.appendingPathComponent("victim"))
            let modules = Modules(dir)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("patches"), withIntermediateDirectories: true)
            for (diff, out) in [("fix.diff", modules.livepatchSum), ("wait.diff", modules.livepatchWait),
                                ("wait-message.diff", modules.livepatchWaitMessage)] {
                let result = try KpatchctlBinary(bed: bed).buildModulePatch(
                    diff: examples.appendingPathComponent(diff), moduleSource: victim, output: out,
                    cache: bed.buildCache, extra: ["--name", out.deletingPathExtension().lastPathComponent])  // originals shared
                guard result.status == 0 else { throw TestBedError.commandFailed("kpatchctl build \(diff)", result.status, result.output) }
            }
            var bytes = try Data(contentsOf: modules.livepatchWait)
            let from = Data("seq_puts\0".utf8), to = Data("seq_putz\0".utf8)
            var renamed = 0
            while let range = bytes.range(of: from) {
                bytes.replaceSubrange(range, with: to)
                renamed += 1
            }
            guard renamed > 0 else { throw TestBedError.commandFailed("no seq_puts in \(modules.livepatchWait.path)", 1, "") }
            try bytes.write(to: modules.unknownSymbol)
            _ = try kbuild.build("livepatch-sum", sources: handWritten, into: dir.appendingPathComponent("foreign"))
        }
        return Modules(dir)
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

/// A VM test class whose guests get kpvictim and the runtime's patches (RuntimeFixtures).
class RuntimeVMTestCase: XCTestCase {
    private static var modules: Result<RuntimeFixtures.Modules, Error>!

    override class func setUp() {
        modules = Result { try RuntimeFixtures.build() }
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
