import PatchModel

/// The apply-time decision: may a patch be loaded while these kthreads run?
/// Refused, unless allowed by an override:
/// - **resident**: any kthread, converted or not, with a replaced function among
///   its resident frames (or inlined into one): it never switches, and the
///   transition stalls;
/// - **unconverted-reachable**: an unconverted kthread whose thread function
///   reaches a replaced function that can hand values back to its callers, or one
///   in the thread function's own compilation unit (it switches only when none is
///   on its stack, so what its loop keeps across iterations may come from old
///   code and meet new code);
/// - **unknown entry, inside a replaced function now**.
/// An unconverted kthread reaching only replaced functions of other files that
/// pass nothing back is a note; a kthread of unknown entry outside replaced
/// functions is a warning. An object with replaced functions but no record is
/// refused unless `--allow-unanalysed`. Under `KthreadRule.strict` every
/// replaced function an unconverted kthread can still reach refuses.
public struct KthreadSafetyCheck: Sendable {
    /// The functions the patch replaces (its metadata), whatever object they are in.
    public var replaced: [ReplacedFunction]
    /// One per analysed object of the patch (vmlinux, each patched module).
    public var reachabilities: [KthreadReachability]
    /// `--allow-kthread COMM`: findings for kthreads with these comms are allowed.
    public var allowComms: Set<String>
    /// `--allow-all-kthreads`.
    public var allowAll: Bool
    /// `--kthread-rule`.
    public var rule: KthreadRule
    /// `--allow-unanalysed`: an object without a record is checked for resident frames only.
    public var allowUnanalysed: Bool

    public init(replaced: [ReplacedFunction], reachabilities: [KthreadReachability],
                allowComms: Set<String> = [], allowAll: Bool = false, rule: KthreadRule = .default,
                allowUnanalysed: Bool = false) {
        self.replaced = replaced
        self.reachabilities = reachabilities
        self.allowComms = allowComms
        self.allowAll = allowAll
        self.rule = rule
        self.allowUnanalysed = allowUnanalysed
    }

    /// The objects with replaced functions that no record covers. A record of
    /// format 3 names its object; an older one covers the objects whose replaced
    /// functions it lists as targets.
    public var unanalysedObjects: [String] {
        var covered = Set(reachabilities.map(\.object).filter { !$0.isEmpty })
        for reach in reachabilities where reach.object.isEmpty {
            let targets = Set(reach.targets.map(\.name))
            covered.formUnion(replaced.filter { targets.contains(FunctionRef.baseName($0.name)) }.map(\.object))
        }
        return Set(replaced.map(\.object)).subtracting(covered).sorted()
    }

    public func evaluate(_ kthreads: [LiveKthread]) -> KthreadSafetyReport {
        var report = evaluateRule(kthreads)
        if rule == .default {
            // What the literal rule would refuse on top: apply --check shows it.
            var strict = self
            strict.rule = .strict
            let refusedNow = Set(report.refusals.map(\.pid))
            report.strictWouldRefuse = strict.evaluateRule(kthreads).refusals.filter {
                $0.reason == .reachesPatchedFunction && !refusedNow.contains($0.pid)
            }
        }
        return report
    }

    private func evaluateRule(_ kthreads: [LiveKthread]) -> KthreadSafetyReport {
        var report = KthreadSafetyReport()
        report.rule = rule
        for object in unanalysedObjects {
            report.unanalysed.append(.init(object: object, allowedBy: allowUnanalysed ? "--allow-unanalysed" : nil))
        }
        let inlinedTargets = reachabilities.map(Self.functionsInliningATarget)
        for thread in kthreads {
            for var finding in findings(for: thread, inlinedTargets: inlinedTargets) {
                if finding.reason == .reachesFunctionPassingNothingBack {
                    report.notes.append(finding)
                    continue
                }
                if allowAll {
                    finding.allowedBy = "--allow-all-kthreads"
                } else if allowComms.contains(thread.comm) {
                    finding.allowedBy = "--allow-kthread \(thread.comm)"
                }
                if finding.allowedBy == nil { report.refusals.append(finding) } else { report.allowed.append(finding) }
            }
            if thread.entry == nil {
                report.unknownEntry.append(KthreadSafetyReport.Unchecked(pid: thread.pid, comm: thread.comm, why: thread.conversion.reason))
            }
        }
        report.checked = kthreads.count
        return report
    }

    /// Whether `frame` is a function this patch replaces (same object; GCC clone suffixes ignored).
    public func isReplaced(_ frame: StackFrame) -> Bool {
        let object = frame.module ?? "vmlinux"
        return replaced.contains { $0.object == object && FunctionRef.baseName($0.name) == frame.baseFunction }
    }

    private var replacesHiddenSleepFunction: String? {
        replaced.first { $0.object == "vmlinux" && KthreadConversion.hiddenSleepFunctions.contains(FunctionRef.baseName($0.name)) }?.name
    }

    private func findings(for thread: LiveKthread, inlinedTargets: [[String: [Int]]]) -> [KthreadFinding] {
        func finding(_ reason: KthreadFinding.Reason, frame: StackFrame?, path: [FunctionRef] = []) -> KthreadFinding {
            KthreadFinding(pid: thread.pid, comm: thread.comm, entry: thread.entry, converted: thread.converted,
                           reason: reason, path: path, frame: frame)
        }
        guard thread.entry != nil else {
            // Unknown entry: refused only when it is inside a replaced function now.
            return thread.stack.first(where: isReplaced).map { [finding(.unknownEntryInPatchedFunction, frame: $0)] } ?? []
        }
        var found: [KthreadFinding] = []
        if let frame = thread.residentFrames.first(where: isReplaced) {
            found.append(finding(.resident, frame: frame))
        } else if let (frame, path) = inlinedIntoResidentFrame(thread, inlinedTargets: inlinedTargets) {
            found.append(finding(.resident, frame: frame, path: path))
        } else if let hidden = replacesHiddenSleepFunction, !thread.stack.isEmpty {
            found.append(finding(.resident, frame: StackFrame(function: hidden, offset: 0, size: 0, module: nil)))
        }
        guard !thread.converted, thread.entry != nil, let entryIndex = ProcStack.threadFunctionIndex(of: thread.stack) else {
            return found
        }
        var hazards: [LivePath] = [], harmless: [LivePath] = []
        for reach in reachabilities {
            switch reach.scope {
            case .passesValues:
                // A call that passes nothing back brings no value back to the frame making it.
                if let path = livePath(thread.stack, entryIndex: entryIndex, in: reach, skippingHopsThatPassNothingBack: true) {
                    hazards.append(path)
                }
            case .changesCallingTask:
                // What it writes in the running task the kthread reads, whatever comes back through the calls.
                if let path = livePath(thread.stack, entryIndex: entryIndex, in: reach, skippingHopsThatPassNothingBack: false) {
                    hazards.append(path)
                }
            case .unit:
                guard let path = livePath(thread.stack, entryIndex: entryIndex, in: reach, skippingHopsThatPassNothingBack: false) else {
                    continue
                }
                let entryName = thread.stack[entryIndex].baseFunction
                let statically = Set(reach.kthreadEntries).intersection(reach.indices(named: entryName))
                if rule == .strict {
                    hazards.append(path)
                } else if reach.dataChecked && !statically.isEmpty {
                    // The data the writers write against the data the thread function reads, in any file.
                    if let shared = reach.sharedData(forThreadFunction: entryName) {
                        var hazard = path
                        hazard.sharedData = "\(reach.functions[shared.writer].name) writes \(shared.data), which \(entryName) reads"
                            + (shared.readIn.map { " (in \($0), which it calls)" } ?? "")
                        hazards.append(hazard)
                    } else {
                        harmless.append(path)
                    }
                } else {
                    // No data compared (an older record, or a thread function not found statically): a target in the
                    // kthread's own files shares their static data with its loop.
                    let ownUnits = Set(thread.stack[...entryIndex].flatMap { frame in reach.indices(named: frame.baseFunction).map { reach.functions[$0].unit } })
                    if reach.targetUnit.map(ownUnits.contains) == true { hazards.append(path) } else { harmless.append(path) }
                }
            }
        }
        if let path = hazards.min(by: { $0.refs.count < $1.refs.count }) {
            // An entry that is itself replaced is the resident finding already.
            if !(path.refs.count == 1 && found.contains { $0.reason == .resident }) {
                var refusal = finding(.reachesPatchedFunction, frame: nil, path: path.refs)
                refusal.sharedData = path.sharedData
                found.append(refusal)
            }
        } else if let path = harmless.min(by: { $0.refs.count < $1.refs.count }) {
            var note = finding(.reachesFunctionPassingNothingBack, frame: nil, path: path.refs)
            note.nothingComesBackThrough = path.passesNothingBack
            note.stopHandsNothingBack = path.stopHoldsNothing
            found.append(note)
        }
        return found
    }

    /// A call path from what a kthread can still run to a target, and the first
    /// function on it below the kthread's frames that passes nothing back, if any.
    private struct LivePath {
        var refs: [FunctionRef]
        var passesNothingBack: String?
        /// The function where the value stops holds none at all (the target hands nothing back).
        var stopHoldsNothing = false
        /// For a refusal through data: who writes what the thread function reads.
        var sharedData: String?
    }

    /// The shortest call path from what an unconverted kthread can still run to a
    /// target of `reach`: from its thread function, only through the calls that
    /// can run again from where it sleeps (when the record knows that point; else
    /// through all of them), and from every frame it is inside (their whole code).
    private func livePath(_ stack: [StackFrame], entryIndex: Int, in reach: KthreadReachability,
                          skippingHopsThatPassNothingBack: Bool) -> LivePath? {
        func below(_ frames: [FunctionRef], _ path: ArraySlice<KthreadReachability.Function>) -> LivePath {
            let stop = reach.valueStop(on: Array(path))
            // Stopping at the target itself: it hands nothing back at all.
            return LivePath(refs: frames + Array(path).callPath, passesNothingBack: stop?.name,
                            stopHoldsNothing: stop != nil && stop == path.last)
        }
        /// The thread function and the inlined bodies it calls `hop` from, when its recorded path goes there.
        func entryRefs(_ index: Int?, name: String, toward hop: Int) -> [FunctionRef] {
            guard let index else { return [FunctionRef(name: name, unit: "")] }
            let entry = reach.functions[index]
            return entry.next == hop ? [entry].callPath : [entry.ref]
        }
        let entryFrame = stack[entryIndex]
        var candidates: [LivePath] = []
        if let hops = reach.resumeHops(function: entryFrame.function, offset: entryFrame.offset) {
            let entryRecord = reach.indices(named: entryFrame.baseFunction).first
            // A value record (format 4 on) keeps only the hops a value comes from into the thread function's frame
            // (where it stops in code inlined into the thread function too); older records are filtered here.
            let usable = hops.filter { !(skippingHopsThatPassNothingBack && !reach.valueFlow && reach.functions[$0].passesNothingBack) }
            if let best = usable.min(by: { reach.path(from: $0).count < reach.path(from: $1).count }) {
                candidates.append(below(entryRefs(entryRecord, name: entryFrame.baseFunction, toward: best), reach.path(from: best)[...]))
            }
        } else if let path = reach.shortestPath(fromFunctionNamed: entryFrame.baseFunction) {
            candidates.append(below([path[0]].callPath, path.dropFirst()))
        }
        for inner in stride(from: entryIndex - 1, through: 0, by: -1) {
            guard let path = reach.shortestPath(fromFunctionNamed: stack[inner].baseFunction) else { continue }
            let outer = stack[(inner + 1)...entryIndex].reversed().map { FunctionRef(name: $0.baseFunction, unit: "") }
            candidates.append(below(outer + [path[0]].callPath, path.dropFirst()))
        }
        return candidates.min { $0.refs.count < $1.refs.count }
    }

    /// A resident frame into which a replaced function was inlined (its stored
    /// shortest path is inlining only): the kthread keeps running the old copy.
    /// `inlinedTargets`: per record, `functionsInliningATarget` (built once per evaluation, not per frame).
    private func inlinedIntoResidentFrame(_ thread: LiveKthread, inlinedTargets: [[String: [Int]]]) -> (StackFrame, [FunctionRef])? {
        for frame in thread.residentFrames {
            for (reach, inlining) in zip(reachabilities, inlinedTargets) {
                if let index = inlining[frame.baseFunction]?.first { return (frame, reach.path(from: index).callPath) }
            }
        }
        return nil
    }

    /// The functions of a record (by name, indices ascending) whose stored path to a target is inlining only:
    /// `path(from:)` with every hop but the last `.inlined`, each path walked once.
    private static func functionsInliningATarget(_ reach: KthreadReachability) -> [String: [Int]] {
        let functions = reach.functions
        var inlinesOnly = [Bool?](repeating: nil, count: functions.count)
        var found: [String: [Int]] = [:]
        for start in functions.indices where functions[start].next != nil {
            var chain: [Int] = [], current = start, result = true
            while true {
                if let known = inlinesOnly[current] { result = known; break }
                guard let next = functions[current].next else { break }
                // A corrupt, cyclic record counts as inlining (the refusing side).
                if chain.count > functions.count { break }
                guard functions[current].kind == .inlined else { result = false; break }
                chain.append(current)
                current = next
            }
            for index in chain { inlinesOnly[index] = result }
            if result { found[functions[start].name, default: []].append(start) }
        }
        return found
    }
}

/// One kthread the patch would endanger.
public struct KthreadFinding: Equatable, Codable, Sendable, CustomStringConvertible {
    public enum Reason: String, Codable, Sendable {
        /// A replaced function is one of the kthread's resident frames, or inlined into one.
        case resident
        /// An unconverted kthread's thread function reaches a replaced function.
        case reachesPatchedFunction
        /// A kthread whose entry is unknown is inside a replaced function now.
        case unknownEntryInPatchedFunction
        /// An unconverted kthread's thread function reaches only replaced functions
        /// that pass nothing back, in other files: a note, not a refusal.
        case reachesFunctionPassingNothingBack
    }

    public var pid: Int
    public var comm: String
    public var entry: String?
    public var converted: Bool
    public var reason: Reason
    /// `entry -> ... -> patched function` for `reachesPatchedFunction`;
    /// `frame -> ... -> patched function` (inlined) for `resident` via inlining.
    public var path: [FunctionRef]
    /// The stack frame in a replaced function (`resident`, `unknownEntryInPatchedFunction`).
    public var frame: StackFrame?
    /// The override that allowed it, nil when it refuses the patch.
    public var allowedBy: String?
    /// For a note: the function on the path where the value stops (the patched one itself when it
    /// hands nothing back, or the caller that does not use what the next function hands back).
    public var nothingComesBackThrough: String?
    /// For a note: the function where the value stops hands nothing back at all (its prototype).
    public var stopHandsNothingBack = false
    /// For a refusal through data: "WRITER writes DATA, which ENTRY reads".
    public var sharedData: String?

    public var description: String {
        let who = "kthread \(pid) (\(comm)), entry \(entry ?? "unknown")"
        let text: String
        switch reason {
        case .resident:
            let frameText = frame.map { $0.offset == 0 && $0.size == 0 ? "\($0.function) (hidden from /proc/PID/stack: it sleeps under it)" : $0.description } ?? "?"
            let inlined = path.count > 1 ? " (patched \(path.last!.name) is inlined into it: \(path.map(\.name).joined(separator: " -> ")))" : ""
            text = "\(who), \(converted ? "converted" : "unconverted"): resident frame \(frameText)\(inlined) is replaced by this patch; "
                + "this kthread would never switch: the transition would stall."
        case .reachesPatchedFunction:
            let how = sharedData.map { "through data: \($0)" }
                ?? "through calls that can hand a value back into its loop (or into its own files)"
            text = "\(who) reaches a patched function: \(path.map(\.name).joined(separator: " -> ")). "
                + "It is not generic dispatch code (docs/KTHREAD-SAFETY.md) and can still run this path, \(how); "
                + "it switches to the patch only when no patched function is on its "
                + "stack, so what its loop keeps across iterations could come from the old code and meet the new."
        case .reachesFunctionPassingNothingBack:
            let patched = path.last?.name ?? "?"
            let through = nothingComesBackThrough ?? patched
            let entryUnit = path.first.map { $0.unit.isEmpty ? "its own file" : $0.unit } ?? "its own file"
            let next = path.lastIndex { $0.name == through }.flatMap { $0 + 1 < path.count ? path[$0 + 1].name : nil } ?? patched
            let why = stopHandsNothingBack
                ? "\(through) \(FunctionInterface.passesNothingBack)"
                : "the value stops at \(through): it keeps nothing of what \(next) hands back (it neither reads the result nor "
                    + "uses afterwards a pointer it passed to it: machine code and DWARF call-site parameters), or it consumes "
                    + "it there (no data path in its machine code takes it to its result, through a pointer it was given, into "
                    + "memory outside its stack frame or to another call), or it has no channel to hand it on (it returns "
                    + "nothing and takes no writable pointer); and no other path it can still run brings a value back"
            return "\(who) reaches patched \(patched): \(path.map(\.name).joined(separator: " -> ")). Not refused: \(why), "
                + "and \(patched) is outside \(entryUnit), so nothing \(comm)'s loop keeps across iterations can come from it; "
                + "the data it changes is shared with every task, and every task runs old and new code on it during the transition."
        case .unknownEntryInPatchedFunction:
            text = "\(who) (its thread function is not known) is inside replaced function \(frame?.description ?? "?") now; "
                + "it may never leave it, and the transition would stall."
        }
        if let allowedBy { return "\(text) Allowed by \(allowedBy)." }
        return "\(text) Stop that kthread (or unload its module) before applying, or pass --allow-kthread \(comm) to accept the risk."
    }
}

public struct KthreadSafetyReport: Equatable, Codable, Sendable {
    /// A kthread whose thread function /proc did not show.
    public struct Unchecked: Equatable, Codable, Sendable, CustomStringConvertible {
        public var pid: Int
        public var comm: String
        public var why: String

        public var description: String {
            "kthread \(pid) (\(comm)): entry unknown (\(why)); not inside a replaced function now, "
                + "but whether its loop reaches one was not checked"
        }
    }

    /// An object with replaced functions and no reachability record.
    public struct Unanalysed: Equatable, Codable, Sendable, CustomStringConvertible {
        public var object: String
        /// `--allow-unanalysed` when allowed, nil when it refuses the patch.
        public var allowedBy: String?

        public var description: String {
            let remedy = object == "vmlinux"
                ? "build with the debug vmlinux (linux-image-RELEASE-dbg, or --vmlinux)"
                : "build with the module's debug build (linux-image-RELEASE-dbg's /usr/lib/debug/lib/modules/RELEASE, or --modules-debug-dir DIR)"
            let what = "\(object): the patch carries no kthread reachability analysis for it (its DWARF was missing at build time): "
                + "which kthreads can reach its replaced functions was not checked, only resident frames"
            if let allowedBy { return "\(what). Allowed by \(allowedBy)." }
            return "\(what). Rebuild the patch: \(remedy); or pass --allow-unanalysed to accept it."
        }
    }

    /// The rule the refusals were decided under.
    public var rule: KthreadRule = .default
    /// Findings that refuse the patch.
    public var refusals: [KthreadFinding] = []
    /// Objects without a record (refusing unless allowed).
    public var unanalysed: [Unanalysed] = []
    /// Under the default rule: the kthreads `--kthread-rule strict` would refuse on top, with their paths.
    public var strictWouldRefuse: [KthreadFinding] = []
    /// Findings an override allowed, reported so the user sees what was accepted.
    public var allowed: [KthreadFinding] = []
    /// Unconverted kthreads that reach only replaced functions passing nothing back, in other files: notes.
    public var notes: [KthreadFinding] = []
    /// Kthreads whose thread function /proc did not show (warnings unless also refused).
    public var unknownEntry: [Unchecked] = []
    public var checked = 0
    /// What the analysis cannot see, to be printed with every result.
    public var limitation = KthreadSafetyReport.limitationText

    public var safe: Bool { refusals.isEmpty && !unanalysed.contains { $0.allowedBy == nil } }

    public static let limitationText = "Not seen: calls through function pointers (ops tables, callbacks, notifier chains) "
        + "in the reachability of unconverted kthreads; resident frames of kthreads running on a CPU or with an unreadable "
        + "stack when checked (listed as unknown entry); functions inlined into a resident frame when the stored call path "
        + "is not the inlining one; kthreads started after the check; a function that casts const away from a parameter "
        + "(its prototype says it passes nothing back); a caller loading again from memory a pointer it passed to a function "
        + "that wrote through it, or an object of its own frame that a callee kept the address of in memory the caller does "
        + "not own and a later call reads; a caller that turns what a callee hands back into its own result only by branching on it "
        + "(control flow: `if (err) return -EIO;`), which counts as consumed; data reached through pointers, or read deeper than the functions the thread function calls "
        + "(the data rule compares static/global data read by its code and by the functions it calls); control flow added at run time beyond "
        + "the jump, exception and alternative tables, for where a kthread sleeps."
}

/// Which kthread rule apply enforces (`--kthread-rule`).
public enum KthreadRule: String, Codable, Sendable, CaseIterable {
    /// Refuse what can hand a value back to an unconverted kthread's loop (docs/KTHREAD-SAFETY.md).
    case `default`
    /// The literal rule: refuse every replaced function an unconverted kthread can still reach, by any path.
    case strict
}
