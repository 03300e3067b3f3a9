/// The anchor of a branch to a klp symbol on an IBT object (PatchObjectWriter, KlpPostLink,
/// docs/PATCH-OBJECT.md): an ordinary relocation against a weak undefined symbol, so that
/// objtool, which runs on the linked module, follows the branch as a call into another object.
///
/// Its name is the klp symbol's (`.klp.sym.vmlinux.override_release,0`), except for a callee
/// objtool knows never returns: objtool recognises those only by their plain name
/// (`__dead_end_function`: a weak symbol is noreturn only when its name is in
/// tools/objtool/noreturns.h). Under the klp name objtool would take the call for one that
/// returns, follow the (absent) code after it and refuse the module ("falls through to next
/// function", "unreachable instruction"). So those anchors are named `make_task_dead`; a weak
/// undefined symbol that no module exports is accepted by modpost (no CRC, no dependency),
/// and the post-link pass renames it to the klp symbol.
public enum KlpAnchor {
    /// tools/objtool/noreturns.h of 6.12 (the list only grows; a name objtool does not know is
    /// harmless under its plain name: objtool treats a weak callee it does not know as returning
    /// either way).
    public static let objtoolNoreturns: Set<String> = [
        "__fortify_panic", "__ia32_sys_exit", "__ia32_sys_exit_group", "__kunit_abort", "__module_put_and_kthread_exit",
        "__reiserfs_panic", "__stack_chk_fail", "__tdx_hypercall_failed", "__ubsan_handle_builtin_unreachable",
        "__x64_sys_exit", "__x64_sys_exit_group", "arch_cpu_idle_dead", "bch2_trans_in_restart_error",
        "bch2_trans_restart_error", "bch2_trans_unlocked_error", "cpu_bringup_and_idle", "cpu_startup_entry", "do_exit",
        "do_group_exit", "do_task_dead", "ex_handler_msr_mce", "hlt_play_dead", "hv_ghcb_terminate",
        "kthread_complete_and_exit", "kthread_exit", "kunit_try_catch_throw", "machine_real_restart", "make_task_dead",
        "mpt_halt_firmware", "nmi_panic_self_stop", "panic", "panic_smp_self_stop", "rest_init",
        "rewind_stack_and_make_dead", "rust_begin_unwind", "rust_helper_BUG", "sev_es_terminate", "snp_abort",
        "start_kernel", "stop_this_cpu", "usercopy_abort", "x86_64_start_kernel", "x86_64_start_reservations",
        "xen_cpu_bringup_again", "xen_start_kernel",
    ]

    /// The anchor symbol's name for a branch to `klp`.
    public static func symbolName(for klp: KlpSymbol) -> String {
        objtoolNoreturns.contains(klp.name) ? klp.name : klp.elfName
    }

    /// Whether `symbol` names the anchor of a branch to the klp symbol `klpName` (its ELF name).
    static func names(_ symbol: String, anchorOf klpName: String) -> Bool {
        if symbol == klpName { return true }
        guard objtoolNoreturns.contains(symbol), klpName.hasPrefix(".klp.sym.") else { return false }
        // `.klp.sym.<object>.<name>,<sympos>`: the object has no dot, the name no comma.
        let rest = klpName.dropFirst(".klp.sym.".count).drop { $0 != "." }.dropFirst()
        return rest.prefix { $0 != "," } == symbol
    }
}
