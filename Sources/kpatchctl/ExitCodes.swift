import ArgumentParser
import PatchModel
import KthreadSafety
import KernelRuntime

/// kpatchctl's exit codes (docs/CLI.md). ArgumentParser uses 64 for usage errors.
enum KpatchctlExit: Int32 {
    case success = 0
    case failure = 1
    /// Refused before loading or changing anything: bad file, preflight, lock, no such patch.
    case refused = 2
    /// The kernel refused finit_module or delete_module.
    case kernelRefused = 3
    /// The transition stalled and was reversed: the system is as it was before.
    case reversed = 4
    /// The transition stalled and is still running (--no-revert, or the reversal stalled too).
    case stalled = 5
    /// apply --check: no check refuses the patch, but tasks are in replaced functions now.
    case stallPredicted = 6
    /// build: nothing the diff touches is compiled into the target kernel.
    case nothingToPatch = 7
    /// apply/revert changed the kernel, then a step failed: a module stays loaded, a
    /// transition may still run, or a record under /run/kpatchctl was not written.
    /// The message (JSON `problems`) names what was left and the command that ends it.
    case leftBehind = 8
    /// build, fetch-kernel: the target kernel cannot be had: no Debian release kpatchctl
    /// knows, not in Debian's archive, or no toolchain with its compiler. Nothing was compiled.
    case kernelUnavailable = 9

    static func of(_ error: ControllerError) -> KpatchctlExit {
        switch error {
        case .badModule, .refused, .lock, .noSuchPatch, .alreadyDisabled, .interruptedBeforeLoading: return .refused
        case .loader, .vetoed, .incompatibleStates: return .kernelRefused
        case .sysfs, .stateFile, .notRegistered(_, .none): return .failure
        case .notRegistered(_, .some), .lostTransition: return .leftBehind
        }
    }

    /// A stalled transition stays exit 5 whatever else failed; otherwise a problem
    /// after the kernel changed is exit 8, whatever the outcome.
    static func of(_ report: ControllerReport) -> KpatchctlExit {
        if report.outcome == .stalled || report.problems.isEmpty { return of(report.outcome) }
        return .leftBehind
    }

    static func of(_ outcome: ControllerOutcome) -> KpatchctlExit {
        switch outcome {
        case .completed: return .success
        case .reversed: return .reversed
        case .stalled: return .stalled
        }
    }
}

/// The --json shape of a failed command.
struct ErrorReport: Encodable {
    let error: String
    let exitCode: Int32
    /// Preflight refusals, one per failed check.
    let failures: [PreflightFailure]?
    /// apply: the kthread analysis against the live kthreads (refusals, allowed,
    /// unchecked), when the patch carries one.
    var kthreadSafety: KthreadSafetyReport? = nil
}

/// Prints `error` (text to stderr, or JSON to stdout) and exits with its code.
func fail(_ error: ControllerError, json: Bool, kthreadSafety: KthreadSafetyReport? = nil) -> ExitCode {
    let code = KpatchctlExit.of(error)
    if json {
        var failures: [PreflightFailure]?
        if case .refused(let list) = error { failures = list }
        printJSON(ErrorReport(error: error.description, exitCode: code.rawValue, failures: failures,
                              kthreadSafety: kthreadSafety))
    } else {
        printError("error: \(error)")
    }
    return ExitCode(code.rawValue)
}

/// Prints any command's error (text to stderr, or the ErrorReport JSON to stdout)
/// and exits with `code`; a ControllerError keeps its own code and details.
func fail(_ error: Error, code: KpatchctlExit, json: Bool) -> ExitCode {
    if let error = error as? ControllerError { return fail(error, json: json) }
    if json {
        printJSON(ErrorReport(error: "\(error)", exitCode: code.rawValue, failures: nil))
    } else {
        printError("error: \(error)")
    }
    return ExitCode(code.rawValue)
}
