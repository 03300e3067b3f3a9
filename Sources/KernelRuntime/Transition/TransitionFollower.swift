import Interruption
import PatchModel

/// A sample of a running transition, for a live count.
public struct TransitionProgress: Sendable {
    public let patch: String
    public let direction: TransitionDirection
    public let elapsed: Double
    public let migrated: Int
    public let total: Int
}

/// How following a transition ended.
public enum TransitionEnd: Equatable, Sendable {
    /// Every task reached the target universe.
    case completed(seconds: Double)
    /// The deadline passed with the transition still running.
    case timedOut(seconds: Double)
    /// The user interrupted kpatchctl (SIGINT/SIGTERM) while it waited.
    case interrupted(seconds: Double)
    /// Someone else reversed it (wrote `enabled`) while we followed.
    case reversedElsewhere(seconds: Double)
}

/// Polls a patch's sysfs state (and samples tasks through the tracker) until
/// its transition ends or the deadline passes.
public struct TransitionFollower: Sendable {
    public let sysfs: LivepatchSysfs
    /// The core retries stack checks once a second; 150 ms keeps the count live.
    public let interval: Double

    public init(sysfs: LivepatchSysfs = LivepatchSysfs(), interval: Double = 0.15) {
        self.sysfs = sysfs
        self.interval = interval
    }

    /// Follows `name` until its transition in `tracker.direction` ends. A patch
    /// directory that disappears while unpatching means done. `interruptible`:
    /// an `Interruption` ends the wait (the reversal itself is not interruptible).
    public func follow(patch name: String, tracker: SwitchTracker, timeout: Double, interruptible: Bool = false,
                       progress: (TransitionProgress) -> Void) throws -> TransitionEnd {
        let direction = tracker.direction
        while true {
            let now = KernelFile.monotonicNow()
            let elapsed = now - tracker.start
            let counts = tracker.sample(now: now)
            let patch = try sysfs.patch(named: name)
            switch (patch, direction) {
            case (nil, .unpatching):
                return .completed(seconds: elapsed)
            case (nil, .patching):
                return .reversedElsewhere(seconds: elapsed)
            case (let patch?, _) where !patch.transition:
                return patch.enabled == (direction == .patching) ? .completed(seconds: elapsed)
                                                                 : .reversedElsewhere(seconds: elapsed)
            case (let patch?, _) where patch.direction != direction:
                return .reversedElsewhere(seconds: elapsed)
            default:
                break
            }
            progress(TransitionProgress(patch: name, direction: direction, elapsed: elapsed,
                                        migrated: counts.migrated, total: counts.total))
            if elapsed >= timeout { return .timedOut(seconds: elapsed) }
            if interruptible && Interruption.requested { return .interrupted(seconds: elapsed) }
            KernelFile.sleep(seconds: interval)
        }
    }
}
