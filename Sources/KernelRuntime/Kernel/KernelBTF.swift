import PatchModel

extension BTFTypes {
    /// The raw `/sys/kernel/btf/vmlinux`: sysfs reports no size, so it is read to EOF.
    public static let kernelPath = "/sys/kernel/btf/vmlinux"
}
