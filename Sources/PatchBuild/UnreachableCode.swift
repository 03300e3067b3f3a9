/// Kernel code that never runs as a traced function of the running kernel, so a live
/// patch cannot replace it, whatever the diff: decided by the directory, since each of
/// these is built into its own image, not into vmlinux or a module. Everything else
/// (lib/ included) is decided by the target: whether the debug vmlinux or a module
/// compiles the file (`KernelBuiltSources`), and whether its changed functions are
/// traced (the differ carries a changed notrace function as new code for its traced
/// callers, or refuses it naming the function).
enum UnreachableCode: Equatable {
    /// arch/x86/boot: the decompressor and the real-mode setup code.
    case boot
    /// The vDSO: code mapped into every user process.
    case vdso
    /// kexec's purgatory: runs between the old kernel and the new one.
    case purgatory
    /// The real-mode trampoline (boot of secondary CPUs, resume from suspend).
    case realmode

    init?(path: String) {
        if path.hasPrefix("arch/x86/boot/") { self = .boot }
        else if path.hasPrefix("arch/x86/entry/vdso/") { self = .vdso }
        else if path.hasPrefix("arch/x86/purgatory/") { self = .purgatory }
        else if path.hasPrefix("arch/x86/realmode/") { self = .realmode }
        else { return nil }
    }

    var reason: String {
        switch self {
        case .boot:
            return "the decompressor and boot setup code run once, before the kernel starts, and are not part of the running kernel: a live patch cannot reach them; fix the code the running kernel runs, or update the kernel"
        case .vdso:
            return "the vDSO runs in user processes, not as a kernel function livepatch can redirect; it needs a new kernel (processes map the vDSO when they start)"
        case .purgatory:
            return "kexec's purgatory runs between two kernels, outside the running one: a live patch cannot reach it; the fixed kernel's kexec tools carry the fix"
        case .realmode:
            return "the real-mode trampoline runs outside the running kernel's traced functions (CPU bring-up, resume from suspend): a live patch cannot reach it; update the kernel"
        }
    }
}
