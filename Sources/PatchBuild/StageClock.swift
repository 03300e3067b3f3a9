import Interruption
import FoundationEssentials
import PatchModel

/// Times the build's stages and reports them as progress events.
final class StageClock {
    private let progress: (BuildEvent) -> Void
    private(set) var times: [BuildResult.StageTime] = []

    init(progress: @escaping (BuildEvent) -> Void) { self.progress = progress }

    /// Runs one stage; a SIGINT/SIGTERM that arrived before it stops the build here.
    func run<T>(_ stage: BuildStage, _ body: () throws -> T) throws -> T {
        if let signal = Interruption.receivedSignal { throw BuildError.interrupted(signal: signal) }
        let start = Date()
        progress(BuildEvent(stage: stage, kind: .started, message: "", seconds: 0))
        let value = try body()
        let seconds = Date().timeIntervalSince(start)
        times.append(.init(stage: stage, seconds: seconds))
        progress(BuildEvent(stage: stage, kind: .finished, message: "", seconds: seconds))
        return value
    }

    /// How far a compile of `total` objects is, `seconds` after it began.
    func progress(_ stage: BuildStage, done: Int, total: Int, seconds: Double) {
        progress(BuildEvent(stage: stage, kind: .progress, message: "\(done)/\(total) objects", seconds: seconds))
    }

    func note(_ stage: BuildStage, _ message: String) {
        progress(BuildEvent(stage: stage, kind: .note, message: message, seconds: 0))
    }
}
