import FoundationEssentials
import PatchModel

/// The target kernel's debug vmlinux (Debian's linux-image-<release>-dbg): its full
/// symbol table gives sympos and non-exported symbols, its BTF the special
/// sections' entry sizes. Opened once per build, lazily.
final class TargetKernelImage {
    let path: URL
    private var object: ELFObject?
    private var cachedSymbols: TargetSymbols?

    init(path: URL) { self.path = path }

    /// `explicit`, else Debian's /usr/lib/debug/boot/vmlinux-<release>, else (a Debian
    /// release) the one of linux-image-<release>-dbg, fetched into `store`.
    static func locate(release: String, explicit: URL?, store: KernelPackageStore, note: (String) -> Void) throws -> TargetKernelImage {
        let fm = FileManager.default
        var candidate = explicit ?? URL(fileURLWithPath: "/usr/lib/debug/boot/vmlinux-\(release)")
        if explicit == nil, !fm.fileExists(atPath: candidate.path), let debian = DebianKernelRelease(release) {
            try store.fetch(debian, parts: [.debug], note: note)
            candidate = store.debugVmlinux(release)
        }
        guard fm.fileExists(atPath: candidate.path) else {
            throw BuildError.missingInput(what: "debug vmlinux (install linux-image-\(release)-dbg or pass --vmlinux)",
                                          path: candidate.path)
        }
        return TargetKernelImage(path: candidate)
    }

    func elf() throws -> ELFObject {
        if let object { return object }
        let opened = try ELFObject(url: path, allowedTypes: [.executable])
        object = opened
        return opened
    }

    func symbols() throws -> TargetSymbols {
        if let cachedSymbols { return cachedSymbols }
        let symbols = try TargetSymbols(object: elf(), objectName: "vmlinux")
        cachedSymbols = symbols
        return symbols
    }

    func specialSectionLayout() throws -> SpecialSectionLayout {
        try SpecialSectionLayout(btf: BTFTypes(object: elf()))
    }

    var buildID: String? { try? elf().gnuBuildID() }
}
