import Glibc

/// SIGINT or SIGTERM while a transition is followed: the first one makes the
/// controller stop waiting and end the transition as on a timeout (reversed,
/// unless --no-revert), so an interrupted apply still leaves the system fully
/// patched or fully unpatched. A second signal terminates as usual.
public enum Interruption {
    /// Installs the handlers (apply and revert call it before loading anything).
    public static func install() {
        signal(SIGINT, interruptionHandler)
        signal(SIGTERM, interruptionHandler)
    }

    public static var requested: Bool { interruptionSignal != 0 }

    /// Forgets a signal that arrived and restores the default dispositions, so a
    /// process that runs more than one apply (a test run) starts each uninterrupted.
    public static func reset() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        interruptionSignal = 0
    }
}

/// Written only by the handler; sig_atomic_t is what a handler may set.
private var interruptionSignal: sig_atomic_t = 0

private let interruptionHandler: @convention(c) (Int32) -> Void = { signalNumber in
    interruptionSignal = signalNumber
    signal(signalNumber, SIG_DFL)
}
