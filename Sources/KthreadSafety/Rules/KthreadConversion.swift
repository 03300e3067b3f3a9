import PatchModel

/// Whether the livepatch consistency model can switch a kthread between units
/// of work. A kthread is **converted** when its thread function is generic
/// dispatch code: between units of work it returns to a point in that loop that
/// holds no state from a patched function, so it switches there (unless the
/// patch replaces the loop itself: see `LiveKthread.residentFrames`). Every
/// other kthread runs its own loop, which may hold state across iterations.
///
/// The one list of converted thread functions (docs/KTHREAD-SAFETY.md repeats it),
/// each reason checked against Linux 6.1's source.
public struct KthreadConversion: Equatable, Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case converted, unconverted, unknown
    }

    /// A generic dispatch loop: the thread function and why it is converted.
    public struct GenericLoop: Sendable {
        public let entry: String
        public let reason: String
        /// Functions the loop calls to wait for work (besides `schedule()`, which
        /// /proc/PID/stack hides): a stack whose frame below the entry is one of
        /// them is idle, not inside a unit of work.
        public let idleWaits: Set<String>
    }

    public static let genericLoops: [GenericLoop] = [
        GenericLoop(entry: "worker_thread",
                    reason: "workqueue worker: each process_one_work() call runs one work item; it sleeps in worker_thread between items",
                    idleWaits: []),
        GenericLoop(entry: "rescuer_thread",
                    reason: "workqueue rescuer: runs work items of a pool under memory pressure one at a time; it sleeps in rescuer_thread between them",
                    idleWaits: []),
        GenericLoop(entry: "kthread_worker_fn",
                    reason: "kthread worker: each work->func() call is one unit of work; it sleeps in kthread_worker_fn between them",
                    idleWaits: []),
        GenericLoop(entry: "smpboot_thread_fn",
                    reason: "per-CPU hotplug thread (ksoftirqd, migration, cpuhp, ...): each ht->thread_fn() call is one unit of work; it sleeps or parks in smpboot_thread_fn between calls",
                    idleWaits: ["kthread_parkme", "__kthread_parkme"]),
        GenericLoop(entry: "irq_thread",
                    reason: "threaded interrupt handler: each handler_fn() call handles one interrupt; it sleeps in irq_wait_for_interrupt between them",
                    idleWaits: ["irq_wait_for_interrupt"]),
        GenericLoop(entry: "kthreadd",
                    reason: "kthreadd: takes one kthread-creation request per iteration (create_kthread), no state carried between requests; it sleeps in kthreadd's loop",
                    idleWaits: []),
    ]

    /// The functions a task sleeps under that /proc/PID/stack leaves out: the
    /// blocking functions of the scheduler's section (`__sched`, .sched.text; the
    /// pinned vmlinux's list, minus the ones that never wait: unlock, trylock,
    /// init, wake-up helpers). The livepatch stack check does see them, so a
    /// patch replacing one is resident in every sleeping kthread.
    public static let hiddenSleepFunctions: Set<String> = [
        "__cond_resched", "__down", "__down_common", "__down_interruptible", "__down_killable", "__down_timeout",
        "__mutex_lock", "__mutex_lock_interruptible_slowpath", "__mutex_lock_killable_slowpath",
        "__mutex_lock_slowpath", "__percpu_down_read", "__schedule", "__wait_for_common", "__wait_on_bit",
        "__wait_on_bit_lock", "__ww_mutex_lock", "__ww_mutex_lock_interruptible_slowpath",
        "__ww_mutex_lock_slowpath", "alarm_timer_nsleep_restart", "bit_wait", "bit_wait_io",
        "bit_wait_io_timeout", "bit_wait_timeout", "do_nanosleep", "down", "down_interruptible",
        "down_killable", "down_read", "down_read_interruptible", "down_read_killable", "down_timeout",
        "down_write", "down_write_killable", "hrtimer_nanosleep_restart", "io_schedule", "io_schedule_timeout",
        "ldsem_down_read", "ldsem_down_write", "mutex_lock", "mutex_lock_interruptible", "mutex_lock_io",
        "mutex_lock_killable", "out_of_line_wait_on_bit", "out_of_line_wait_on_bit_lock",
        "out_of_line_wait_on_bit_timeout", "percpu_down_write", "preempt_schedule", "preempt_schedule_common",
        "preempt_schedule_irq", "preempt_schedule_notrace", "rt_mutex_lock", "rt_mutex_lock_interruptible",
        "rt_mutex_lock_killable", "rt_mutex_slowlock_block", "rt_mutex_wait_proxy_lock", "rwsem_down_read_slowpath",
        "rwsem_down_write_slowpath", "schedule", "schedule_hrtimeout", "schedule_hrtimeout_range",
        "schedule_hrtimeout_range_clock", "schedule_idle", "schedule_preempt_disabled", "schedule_timeout",
        "schedule_timeout_idle", "schedule_timeout_interruptible", "schedule_timeout_killable",
        "schedule_timeout_uninterruptible", "usleep_range_state", "wait_for_completion",
        "wait_for_completion_interruptible", "wait_for_completion_interruptible_timeout", "wait_for_completion_io",
        "wait_for_completion_io_timeout", "wait_for_completion_killable", "wait_for_completion_killable_timeout",
        "wait_for_completion_state", "wait_for_completion_timeout", "ww_mutex_lock", "ww_mutex_lock_interruptible",
        "yield", "yield_to",
    ]

    public var kind: Kind
    public var reason: String

    public var converted: Bool { kind == .converted }

    public static func loop(entry: String) -> GenericLoop? { genericLoops.first { $0.entry == entry } }

    /// `entry` nil: the stack did not show it, for the reason `unknownWhy`.
    public static func classify(entry: String?, unknownWhy: String) -> KthreadConversion {
        guard let entry else { return KthreadConversion(kind: .unknown, reason: unknownWhy) }
        if let loop = loop(entry: entry) { return KthreadConversion(kind: .converted, reason: loop.reason) }
        return KthreadConversion(kind: .unconverted,
                                 reason: "\(entry) is not generic dispatch code: its own loop may hold state across iterations")
    }
}
