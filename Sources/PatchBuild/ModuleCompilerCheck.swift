import FoundationEssentials

extension TargetKernel {
    /// The compiler out-of-tree modules of this kernel build with, checked before anything
    /// is compiled: the headers' Kbuild names it (Debian's headers set
    /// `CC = $(CROSS_COMPILE)gcc-N` from the kernel's own build; trixie's 6.12 uses
    /// `x86_64-linux-gnu-gcc-14`), and it must print the config's
    /// `CONFIG_CC_VERSION_TEXT`, as for kernel targets. Without this check a host lacking
    /// that compiler fails deep in Kbuild ("x86_64-linux-gnu-gcc-14: not found").
    @discardableResult
    func checkModuleCompiler() throws -> String {
        try KernelSourceTree.checkCompiler(config: headers.appendingPathComponent(".config"))
    }
}
