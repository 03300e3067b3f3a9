import FoundationEssentials

/// Counts the objects a Kbuild run has compiled from its quiet output
/// (`  CC      kernel/fork.o`, `  CC [M]  fs/binfmt_misc.o`) and reports each to the
/// stage clock as objects done/total and the time since the run began.
final class KbuildProgress {
    private let objects: Set<String>
    private let stage: BuildStage
    private let clock: StageClock
    private let start = Date()
    private(set) var done = 0

    init(objects: [String], stage: BuildStage, clock: StageClock) {
        self.objects = Set(objects)
        self.stage = stage
        self.clock = clock
        clock.progress(stage, done: 0, total: self.objects.count, seconds: 0)
    }

    var seconds: Double { Date().timeIntervalSince(start) }

    func line(_ line: Substring) {
        let words = line.split(separator: " ")
        guard words.first == "CC", let object = words.last, objects.contains(String(object)) else { return }
        done += 1
        clock.progress(stage, done: done, total: objects.count, seconds: seconds)
    }
}
