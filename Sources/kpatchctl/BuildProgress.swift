import Glibc
import PatchBuild

/// Renders `build`'s progress on stderr: a line per note and finished stage; a
/// compile's objects-done count on one line rewritten in place when stderr is a
/// terminal (and not at all otherwise, so logs stay one line per event).
final class BuildProgress {
    private let terminal = isatty(STDERR_FILENO) == 1
    /// A progress line is showing and the next line must start below it.
    private var open = false

    func show(_ event: BuildEvent) {
        switch event.kind {
        case .started: break
        case .progress:
            guard terminal else { return }
            write("\r[\(event.stage.rawValue)] \(event.message), \(fixed(event.seconds, 0)) s\u{1B}[K")
            open = true
        case .finished: line("[\(event.stage.rawValue)] done in \(fixed(event.seconds, 2)) s")
        case .note: line("[\(event.stage.rawValue)] \(event.message)")
        }
    }

    private func line(_ text: String) {
        if open { write("\n"); open = false }
        printError(text)
    }

    private func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
