import FoundationEssentials
import KthreadSafety

extension KthreadResumeAnalysis {
    /// The analysis of `vmlinux`, with objdump run by the builder's command runner.
    package convenience init(vmlinux: String, cacheDirectory: URL?) {
        self.init(vmlinux: vmlinux, cacheDirectory: cacheDirectory, disassemble: { arguments in
            let result = try CommandRunner.run(arguments)
            return (result.status, result.output)
        })
    }
}
