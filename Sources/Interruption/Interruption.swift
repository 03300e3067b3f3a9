import Glibc
import Synchronization

/// SIGINT or SIGTERM while a transition is followed: the first one makes the
/// controller stop waiting and end the transition as on a timeout (reversed,
/// unless --no-revert), so an interrupted apply still leaves the system fully
/// patched or fully unpatched. During `build` it stops the running command and
/// the build (exit 128 + the signal's number). A second signal terminates as usual.
public enum Interruption {
    /// Installs the handlers (apply and revert call it before loading anything).
    public static func install() {
        signal(SIGINT, interruptionHandler)
        signal(SIGTERM, interruptionHandler)
    }

    public static var requested: Bool { interruptionSignal.load(ordering: .relaxed) != 0 }

    /// The signal that asked to stop, if one did.
    public static var receivedSignal: Int32? {
        let signal = interruptionSignal.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    /// Forgets a signal that arrived and restores the default dispositions, so a
    /// process that runs more than one apply (a test run) starts each uninterrupted.
    public static func reset() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        interruptionSignal.store(0, ordering: .relaxed)
    }
}

/// Written only by the handler. A lock-free atomic is what a handler may set
/// (as sig_atomic_t in C), and a `let` of a Sendable type is safe to share.
private let interruptionSignal = Atomic<Int32>(0)

private let interruptionHandler: @convention(c) (Int32) -> Void = { signalNumber in
    interruptionSignal.store(signalNumber, ordering: .relaxed)
    signal(signalNumber, SIG_DFL)
}
