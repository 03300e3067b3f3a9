import Foundation
import TestSupport
import PatchCore

/// The modules the runtime VM tests load: kpvictim and the hand-written
/// livepatch fixtures of Tests/Fixtures, built once per test run.
enum RuntimeFixtures {
    struct Modules {
        let directories: [URL]
        let kpvictim: URL
        let livepatchSum: URL
        let livepatchWait: URL
        /// livepatch_wait.ko with its import of seq_puts renamed to seq_putz: the
        /// kernel refuses it (Unknown symbol, ENOENT) after every preflight passed.
        let unknownSymbol: URL

        var payloadFiles: [String: URL] {
            ["kpvictim.ko": kpvictim, "livepatch_sum.ko": livepatchSum, "livepatch_wait.ko": livepatchWait,
             "unknown_symbol.ko": unknownSymbol]
        }

        func remove() {
            for dir in directories { try? FileManager.default.removeItem(at: dir) }
        }
    }

    /// Builds the modules into scratch directories; the caller removes them.
    static func build() throws -> Modules {
        let bed = TestBed.shared
        let kbuild = KbuildModule()
        let victim = try kbuild.build("kpvictim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        let sum = try kbuild.build("livepatch-sum", sources: bed.root.appendingPathComponent("Tests/Fixtures/livepatch-sum"))
        let wait = try kbuild.build("livepatch-wait", sources: bed.root.appendingPathComponent("Tests/Fixtures/livepatch-wait"))
        let waitModule = wait.appendingPathComponent("livepatch_wait.ko")
        var bytes = try Data(contentsOf: waitModule)
        let from = Data("seq_puts\0".utf8), to = Data("seq_putz\0".utf8)
        var renamed = 0
        while let range = bytes.range(of: from) {
            bytes.replaceSubrange(range, with: to)
            renamed += 1
        }
        guard renamed > 0 else { throw TestBedError.commandFailed("no seq_puts in \(waitModule.path)", 1, "") }
        let unknown = wait.appendingPathComponent("unknown_symbol.ko")
        try bytes.write(to: unknown)
        return Modules(directories: [victim, sum, wait], kpvictim: victim.appendingPathComponent("kpvictim.ko"),
                       livepatchSum: sum.appendingPathComponent("livepatch_sum.ko"), livepatchWait: waitModule,
                       unknownSymbol: unknown)
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
