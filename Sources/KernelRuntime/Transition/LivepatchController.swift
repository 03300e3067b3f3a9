import Interruption
import Glibc
import PatchModel

/// What apply and revert do when the transition stalls.
public struct TransitionOptions: Sendable {
    /// Seconds to wait for every task to switch.
    public var timeout: Double
    /// Reverse a stalled transition (the default), or leave it running.
    public var reverseOnTimeout: Bool

    public init(timeout: Double = 60, reverseOnTimeout: Bool = true) {
        self.timeout = timeout
        self.reverseOnTimeout = reverseOnTimeout
    }

    /// The least time a reversal is followed, whatever `timeout` was. The kernel completes a
    /// reversal from its once-a-second transition work; on 6.12 in the VM (TCG, loaded host)
    /// that took 6.8 s after the reversal began with no task blocking it (dynamic debug of
    /// transition.c logged no failed switch), so a short `--timeout` (3 s) reported a reversal
    /// that completed moments later as stalled (exit 5) and left the module loaded.
    public static let reversalFloor: Double = 30

    /// How long the reversal of a stalled transition is followed.
    public var reversalTimeout: Double { max(timeout, Self.reversalFloor) }
}

/// Where the system ended up.
public enum ControllerOutcome: String, Codable, Sendable {
    /// apply: patched everywhere.  revert: unpatched everywhere and unloaded.
    case completed
    /// The transition stalled and was reversed: the system is as before.
    case reversed
    /// The transition stalled and was left running (--no-revert), or the reversal stalled too.
    case stalled
}

/// What apply and revert report while they run, for a live display.
public enum ControllerEvent: Sendable {
    /// Every preflight check passed; the module is loaded next.
    case checked(patch: String)
    /// finit_module returned: the module is in and its transition started.
    case loaded(patch: String, seconds: Double)
    /// The transition started by writing `enabled` (revert).
    case disabled(patch: String)
    case progress(TransitionProgress)
    /// The deadline passed; these tasks had not switched.
    case timedOut(blockers: [BlockingTask])
    /// SIGINT/SIGTERM arrived; the transition is ended as on a timeout.
    case interrupted(blockers: [BlockingTask])
    /// The transition is being reversed (after a timeout).
    case reversing(patch: String)
    /// The lock's previous holder died without releasing it (kill -9); its record is replaced.
    case reclaimedLock(LockHolder)
    /// revert found the patch disabled and unpatching, or unpatched with its module
    /// still loaded (a revert that died): it takes over from there.
    case resumed(patch: String, transitionRunning: Bool)
}

/// The result of apply or revert, for rendering.
public struct ControllerReport: Codable, Sendable {
    public let patch: String
    public let direction: TransitionDirection
    public let outcome: ControllerOutcome
    /// finit_module duration (apply) or nil.
    public var loadSeconds: Double?
    public var transitionSeconds: Double
    /// When reversed: how long the reversal took.
    public var reverseSeconds: Double?
    /// The module was removed from the kernel (revert, or a reversed apply).
    public var unloaded: Bool
    /// Tasks that had not switched at the deadline.
    public var blockers: [BlockingTask]
    public var record: TransitionRecord
    /// SIGINT/SIGTERM ended the wait before the deadline.
    public var interrupted = false
    /// apply of a cumulative patch: the patches it replaced, whose modules it unloaded.
    public var replaced: [String] = []
    /// Things that went wrong without changing the outcome.
    public var warnings: [String] = []
    /// Steps that failed after the kernel changed (a reversal, an unload, a record):
    /// each names what it left behind and what ends it. Not empty: exit 8 (or 5 when stalled).
    public var problems: [ControllerProblem] = []
}

/// Loads a livepatch and follows its transition, or disables one and unloads it.
/// Either way the system ends fully patched or fully unpatched, unless the caller
/// asked to leave a stalled transition running.
public struct LivepatchController {
    public var sysfs = LivepatchSysfs()
    public var proc = ProcTasks()
    public var log = TransitionLog()
    public var lockPath = TransitionLock.defaultPath
    public var follower = TransitionFollower()
    public var applied = AppliedPatchLog()
    /// Offset of task_struct.pid for the stack-check probe; read from the running kernel's
    /// BTF by default, only when a transition is followed with probes (not at every init).
    public var taskPidOffset: @Sendable () -> Int? = {
        (try? BTFTypes(rawFile: BTFTypes.kernelPath))?.memberOffset(structure: "task_struct", member: "pid")
    }
    /// Follow switches with tracefs kprobe events; false (--no-trace): poll only, and
    /// remove any probes a killed kpatchctl left behind.
    public var useTracefs = true

    public init() {}

    /// Runs `preflight` on the module (all checks, nothing loaded if one fails),
    /// takes the lock, loads the module and follows the patching transition.
    public func apply(modulePath: String, preflight: Preflight = .runtime, options: TransitionOptions = .init(),
                      events: (ControllerEvent) -> Void = { _ in }) throws -> ControllerReport {
        let module: ModuleInfo
        do { module = try KernelModuleFile.forLoading(path: modulePath) } catch let e as ModuleInfoError { throw ControllerError.badModule(e) }
        let context = PreflightContext(modulePath: modulePath, module: module, sysfs: sysfs, proc: proc)
        // Without the privilege the lock cannot be taken: report every problem unlocked.
        if PrivilegeCheck().check() != nil { throw ControllerError.refused(preflight.run(context)) }
        // The lock comes before the other checks, so of two concurrent applies the
        // second always learns who holds it, whatever the first has loaded by then.
        let lock = try takeLock(purpose: "apply \(module.name ?? modulePath)", events: events)
        defer { withExtendedLifetime(lock) {} }
        let failures = preflight.run(context)
        guard failures.isEmpty, let name = module.name else { throw ControllerError.refused(failures) }
        // SIGINT/SIGTERM during the preflight: stop before anything is loaded.
        if Interruption.requested { throw ControllerError.interruptedBeforeLoading(module: name) }
        events(.checked(patch: name))

        let meta: PatchMetadata?
        do { meta = try module.patchMetadata() } catch PatchMetadataError.noMetadataSection {
            meta = nil  // another tool's livepatch (--foreign): no states, not cumulative
        } catch {
            throw ControllerError.refused([PreflightFailure(check: "identity", reason: "\(error)",
                                                            advice: "rebuild the patch with this kpatchctl")])
        }
        // A cumulative patch replaces every enabled patch in its transition: they must be known before it loads.
        // Another tool's patch (--foreign) has no metadata: whether it replaces them shows
        // when its transition ends (the kernel has disabled or freed the patches it replaced).
        var enabledBefore: [String] = []
        if meta == nil || meta?.replacesAll == true {
            do { enabledBefore = try sysfs.patches().filter(\.enabled).map(\.name) } catch { throw ControllerError.sysfs(error) }
        }
        var replacing = meta?.replacesAll == true ? enabledBefore : []
        let tracker = makeTracker(.patching)
        var record = TransitionRecord(patch: name, direction: .patching, startedAt: KernelFile.wallNow(),
                                      tracking: tracker.probes == nil ? "polling" : "tracefs")
        try begin(record, tracker: tracker)
        // The kernel log says why klp_enable_patch failed; only what comes after this mark counts.
        let logMark = KernelLog.records().last?.sequence
        let loadStart = KernelFile.monotonicNow()
        do {
            try KernelModuleLoader.load(path: modulePath)
        } catch let e as ModuleLoaderError {
            tracker.probes?.stop()
            unlink(log.currentPath)
            if let reason = explainLoadFailure(patch: name, meta: meta, error: e, after: logMark) { throw reason }
            throw ControllerError.loader(e)
        }
        let loadSeconds = KernelFile.monotonicNow() - loadStart
        events(.loaded(patch: name, seconds: loadSeconds))
        let registered: LivepatchPatch?
        do { registered = try sysfs.patch(named: name) } catch {
            tracker.probes?.stop()
            unlink(log.currentPath)
            throw ControllerError.lostTransition(patch: name, direction: .patching, error: error)
        }
        guard registered != nil else {
            tracker.probes?.stop()
            unlink(log.currentPath)
            do { try KernelModuleLoader.unload(name: name) } catch {
                throw ControllerError.notRegistered(module: name, unloadError: "\(error)")
            }
            throw ControllerError.notRegistered(module: name)
        }
        // Where the kernel shows `replace` (6.11+), it says whether the patch is cumulative,
        // also for another tool's patch; on 6.1 that shows only when the transition ends.
        let kernelReplace = registered?.replace
        if meta == nil, let kernelReplace { replacing = kernelReplace ? enabledBefore : [] }
        var report = try finish(name: name, tracker: tracker, record: &record, options: options, events: events)
        report.loadSeconds = loadSeconds
        if report.outcome == .completed {
            if meta == nil && kernelReplace == nil && !enabledBefore.isEmpty {
                // klp_complete_transition disables the replaced patches before it ends the transition.
                do { replacing = try enabledBefore.filter { try sysfs.patch(named: $0)?.enabled != true } } catch {
                    report.problems.append(ControllerProblem(
                        step: "reading which patches \(name) replaced", error: "\(error)",
                        leftBehind: "the modules of patches it replaced (if it is cumulative) may still be loaded: "
                            + enabledBefore.joined(separator: ", "),
                        remedy: "run kpatchctl revert on each of them that kpatchctl list no longer shows enabled"))
                }
            }
            report.replaced = replacing
            report.problems += unloadReplaced(replacing, by: name)
            do {
                try applied.add(AppliedPatch(name: name, appliedAt: KernelFile.wallNow(), cumulative: kernelReplace ?? (meta?.replacesAll == true),
                                             replaced: report.replaced, states: meta?.states ?? [],
                                             operations: meta?.operations.ifAny))
            } catch {
                report.problems.append(ControllerProblem(
                    step: "recording \(name) in \(applied.path)", error: "\(error)",
                    leftBehind: "\(name) is applied, but status and list will not show when it was applied or what it replaced, "
                        + "and the system-state check of later applies will not see its states",
                    remedy: "make \(applied.log.directory) writable; revert and apply \(name) again to record it"))
            }
        }
        return report
    }

    /// Writes the record of the transition about to start; on failure nothing was
    /// changed yet: the probes are removed and apply or revert stops.
    private func begin(_ record: TransitionRecord, tracker: SwitchTracker) throws {
        do { try log.begin(record) } catch {
            tracker.probes?.stop()
            throw ControllerError.stateFile(path: log.currentPath, error: error)
        }
    }

    /// The kernel frees the patches a cumulative patch replaced once its transition
    /// ends (their sysfs directories go); then their modules can be unloaded. The
    /// new patch is in either way: a module that stays is a problem to report (exit 8),
    /// not a failed apply.
    private func unloadReplaced(_ names: [String], by patch: String) -> [ControllerProblem] {
        var problems: [ControllerProblem] = []
        for name in names {
            let deadline = KernelFile.monotonicNow() + 10
            var readError: Error?
            while KernelFile.monotonicNow() < deadline {
                do { if try sysfs.patch(named: name) == nil { break } } catch { readError = error; break }
                KernelFile.sleep(seconds: 0.1)
            }
            do {
                _ = try unload(name)
            } catch {
                problems.append(ControllerProblem(
                    step: "unloading \(name), replaced by \(patch)",
                    error: "\(error)" + (readError.map { "; reading its livepatch state failed too: \($0)" } ?? ""),
                    leftBehind: "module \(name) is still loaded (its patch no longer runs)", remedy: unloadRemedy(name)))
            }
            do { try applied.remove(name) } catch {
                problems.append(recordProblem(name, error))
            }
        }
        return problems
    }

    /// What ends a module left loaded: kpatchctl revert, once the modules that use a
    /// symbol it exports (its holders, which keep delete_module failing) are removed.
    private func unloadRemedy(_ name: String) -> String {
        let revert = "run kpatchctl revert \(name)"
        do {
            let holders = try KernelModuleLoader.holders(of: name)
            return holders.isEmpty ? revert : "remove the modules that use it (rmmod \(holders.joined(separator: " "))), then \(revert)"
        } catch {
            return "\(revert) once no module uses it (its users are not known: \(error))"
        }
    }

    /// patches.json still lists `name` as applied though its patch is gone.
    private func recordProblem(_ name: String, _ error: Error) -> ControllerProblem {
        ControllerProblem(step: "removing \(name) from \(applied.path)", error: "\(error)",
                          leftBehind: "list and status still show \(name) as applied, and later applies' system-state check "
                              + "counts its states while a patch of that name is enabled",
                          remedy: "make \(applied.log.directory) writable, then remove \(name) from \(applied.path)")
    }

    /// Why the kernel refused the patch, from the lines the load left in the kernel
    /// log: a pre-patch callback's veto (the generated module logs which callback
    /// returned what), or the kernel's system-state check (klp_is_patch_compatible).
    private func explainLoadFailure(patch: String, meta: PatchMetadata?, error: ModuleLoaderError,
                                    after mark: UInt64?) -> ControllerError? {
        let fresh = KernelLog.records().filter { record in mark.map { record.sequence > $0 } ?? true }.map(\.text)
        if fresh.contains(where: { $0.contains("Livepatch patch (\(patch)) is not compatible with the already installed livepatches") }) {
            return .incompatibleStates(patch: patch, states: meta?.states ?? [], replace: meta?.replacesAll == true)
        }
        let candidates = meta?.callbacks.filter { $0.kind == .prePatch } ?? []
        guard !candidates.isEmpty else { return nil }
        let prefix = "\(PatchCallback.vetoLogPrefix)\(patch): pre-patch callback "
        // No such line: the kernel refused before any callback ran.
        guard let line = fresh.last(where: { $0.hasPrefix(prefix) }) else { return nil }
        let named = candidates.first { line.hasPrefix(prefix + "\($0.function) of object \($0.object) ") }
        return .vetoed(patch: patch, callback: named, candidates: candidates, error: error)
    }

    /// Disables `name`, follows the unpatching transition and unloads the module.
    public func revert(name: String, options: TransitionOptions = .init(),
                       events: (ControllerEvent) -> Void = { _ in }) throws -> ControllerReport {
        if let refusal = PrivilegeCheck().check() { throw ControllerError.refused([refusal]) }
        let lock = try takeLock(purpose: "revert \(name)", events: events)
        defer { withExtendedLifetime(lock) {} }
        let patch: LivepatchPatch?
        do { patch = try sysfs.patch(named: name) } catch { throw ControllerError.sysfs(error) }
        guard let patch else {
            // The unpatching finished but its module stayed: a revert died before unloading it.
            guard KernelModuleLoader.isLivepatchLoaded(name) else {
                let loaded: [String]
                do { loaded = try sysfs.patchNames() } catch { throw ControllerError.sysfs(error) }
                throw ControllerError.noSuchPatch(name, loaded: loaded)
            }
            events(.resumed(patch: name, transitionRunning: false))
            return try finishUnloaded(name: name)
        }
        // Under the lock no live kpatchctl follows a transition: a disabled patch still
        // in transition was left by a revert that died. Follow it to its end.
        let resuming = !patch.enabled
        if resuming && !patch.transition { throw ControllerError.alreadyDisabled(name) }
        // The kernel refuses to disable a patch while another is in transition (EBUSY on
        // `enabled`): say which, before writing anything.
        if !resuming {
            let other: LivepatchPatch?
            do { other = try sysfs.transitioningPatch() } catch { throw ControllerError.sysfs(error) }
            if let other, other.name != name, let direction = other.direction {
                throw ControllerError.refused([PreflightFailure(
                    check: "no-transition", reason: "livepatch \(other.name) is in transition (\(direction.rawValue))",
                    advice: "wait until it finishes (kpatchctl status) or revert \(other.name) first, then revert \(name)")])
            }
        }

        let tracker = makeTracker(.unpatching)
        var record = TransitionRecord(patch: name, direction: .unpatching, startedAt: KernelFile.wallNow(),
                                      tracking: tracker.probes == nil ? "polling" : "tracefs")
        try begin(record, tracker: tracker)
        if resuming {
            events(.resumed(patch: name, transitionRunning: true))
        } else {
            do { try sysfs.setEnabled(name, false) } catch {
                tracker.probes?.stop()
                unlink(log.currentPath)
                throw ControllerError.sysfs(error)
            }
            events(.disabled(patch: name))
        }
        return try finish(name: name, tracker: tracker, record: &record, options: options, events: events)
    }

    private func takeLock(purpose: String, events: (ControllerEvent) -> Void) throws -> TransitionLock {
        let lock: TransitionLock
        do { lock = try TransitionLock(path: lockPath, purpose: purpose) } catch let e as TransitionLockError {
            throw ControllerError.lock(e)
        }
        if let dead = lock.reclaimed { events(.reclaimedLock(dead)) }
        return lock
    }

    /// One probe instance for the whole transition: registered before the module is
    /// loaded (or `enabled` written), removed after the transition and any reversal
    /// ended, never while the kernel patches its code.
    private func makeTracker(_ direction: TransitionDirection) -> SwitchTracker {
        if !useTracefs { SwitchProbes.removeLeftovers() }
        let probes = useTracefs ? SwitchProbes(pidOffset: taskPidOffset()) : nil
        return SwitchTracker(direction: direction, proc: proc, probes: probes)
    }

    /// revert of a patch already unpatched whose module is still loaded: unload it.
    private func finishUnloaded(name: String) throws -> ControllerReport {
        var record = TransitionRecord(patch: name, direction: .unpatching, startedAt: KernelFile.wallNow(), tracking: "polling")
        // The revert that died may have been removing its probes: no transition to follow, so remove them here.
        SwitchProbes.removeLeftovers()
        let unloaded = try unload(name)
        var problems: [ControllerProblem] = []
        do { try applied.remove(name) } catch { problems.append(recordProblem(name, error)) }
        record.endedAt = KernelFile.wallNow()
        record.outcome = .completed
        if let problem = finishLog(record) { problems.append(problem) }
        var report = ControllerReport(patch: name, direction: .unpatching, outcome: .completed, loadSeconds: nil,
                                      transitionSeconds: 0, reverseSeconds: nil, unloaded: unloaded, blockers: [], record: record)
        report.problems = problems
        return report
    }

    /// Moves the record to last-transition.json; nil when written. The record of the
    /// running transition goes either way (its transition ended).
    private func finishLog(_ record: TransitionRecord) -> ControllerProblem? {
        do { try log.finish(record) } catch {
            unlink(log.currentPath)
            return ControllerProblem(step: "writing the transition record \(log.lastPath)", error: "\(error)",
                                     leftBehind: "status will not show how this transition of \(record.patch) ended",
                                     remedy: "")
        }
        return nil
    }

    /// Follows the transition; on timeout reverses it (unless told not to) and
    /// follows the reversal; unloads the module when the patch ends disabled.
    private func finish(name: String, tracker: SwitchTracker, record: inout TransitionRecord, options: TransitionOptions,
                        events: (ControllerEvent) -> Void) throws -> ControllerReport {
        let direction = tracker.direction
        let end: TransitionEnd
        do {
            end = try follower.follow(patch: name, tracker: tracker, timeout: options.timeout, interruptible: true,
                                      progress: { events(.progress($0)) })
        } catch {
            tracker.probes?.stop()
            unlink(log.currentPath)
            throw ControllerError.lostTransition(patch: name, direction: direction, error: error)
        }
        var blockers: [BlockingTask] = []
        var problems: [ControllerProblem] = []
        var warnings: [String] = []
        var outcome = ControllerOutcome.completed
        var reverseSeconds: Double?
        let seconds: Double
        switch end {
        case .completed(let s):
            seconds = s
        case .reversedElsewhere(let s):
            seconds = s
            outcome = .reversed
        case .timedOut(let s), .interrupted(let s):
            seconds = s
            do {
                if let patch = try sysfs.patch(named: name) {
                    blockers = TransitionBlockers.find(patch: patch, tasks: proc.all(), proc: proc,
                                                       lastStackChecks: SwitchEvent.lastStackChecks(tracker.probes?.events() ?? []))
                }
            } catch {
                warnings.append("the tasks the transition waits for are not listed: \(error)")
            }
            outcome = .stalled
            if case .interrupted = end { events(.interrupted(blockers: blockers)) } else { events(.timedOut(blockers: blockers)) }
            if options.reverseOnTimeout {
                events(.reversing(patch: name))
                let stillThere = "module \(name) is still loaded and in transition (\(direction.rawValue), or back if the write took)"
                do {
                    try sysfs.setEnabled(name, direction == .unpatching)
                    let reverse = SwitchTracker(direction: direction.reversed, proc: proc, probes: nil)
                    let back = try follower.follow(patch: name, tracker: reverse, timeout: options.reversalTimeout,
                                                   progress: { events(.progress($0)) })
                    if case .completed(let r) = back {
                        outcome = .reversed
                        reverseSeconds = r
                    }
                    // A reversal that stalls too is exit 5, as documented: status shows it.
                } catch {
                    problems.append(ControllerProblem(step: "reversal", error: "\(error)",
                                                      leftBehind: stillThere, remedy: "run kpatchctl revert \(name)"))
                }
            }
        }
        let completedForward = outcome == .completed
        record.switches = tracker.switches(end: KernelFile.monotonicNow(), completed: completedForward)
        if let left = tracker.probes?.stop() {
            problems.append(ControllerProblem(step: "removing the switch-tracking probes", error: "tracefs kept them",
                                              leftBehind: "\(left) stay (they only record; the patch is not affected)",
                                              remedy: "remove them as said, or run the next apply or revert with --no-trace"))
        }
        record.blockers = blockers
        record.endedAt = KernelFile.wallNow()
        record.outcome = [.completed: .completed, .reversed: .reversed, .stalled: .stalled][outcome]!

        // The module stays loaded while the patch is enabled; once the kernel freed a
        // disabled patch it drops its module reference, shortly after the directory goes.
        let endsDisabled = (direction == .patching) != (outcome == .completed)
        var unloaded = false
        if outcome != .stalled && endsDisabled {
            do { unloaded = try unload(name) } catch {
                problems.append(ControllerProblem(step: "unload", error: "\(error)",
                                                  leftBehind: "module \(name) is still loaded (its patch is disabled)",
                                                  remedy: unloadRemedy(name)))
            }
            do { try applied.remove(name) } catch { problems.append(recordProblem(name, error)) }
        }
        if let problem = finishLog(record) { problems.append(problem) }
        var report = ControllerReport(patch: name, direction: direction, outcome: outcome, loadSeconds: nil,
                                      transitionSeconds: seconds, reverseSeconds: reverseSeconds, unloaded: unloaded,
                                      blockers: blockers, record: record)
        if case .interrupted = end { report.interrupted = true }
        report.problems = problems
        report.warnings = warnings
        return report
    }

    /// Unloads once the kernel has released the module (retrying for up to 10 s: the
    /// livepatch core drops its reference from a work item after the transition). A module
    /// that another module uses (a holder) fails at once: only removing that module helps.
    private func unload(_ name: String) throws -> Bool {
        let deadline = KernelFile.monotonicNow() + 10
        while true {
            do {
                try KernelModuleLoader.unload(name: name)
                return true
            } catch let e as ModuleLoaderError where e.errno == EWOULDBLOCK || e.errno == EBUSY || e.errno == EAGAIN {
                if KernelFile.monotonicNow() > deadline || hasHolders(name) { throw ControllerError.loader(e) }
                KernelFile.sleep(seconds: 0.1)
            } catch let e as ModuleLoaderError {
                throw ControllerError.loader(e)
            }
        }
    }

    /// Whether another loaded module uses `name`. Unknown (holders unreadable) counts as
    /// no: the caller then keeps retrying to its deadline, as without this check.
    private func hasHolders(_ name: String) -> Bool {
        do { return try !KernelModuleLoader.holders(of: name).isEmpty } catch { return false }
    }
}
