import FoundationEssentials
import PatchModel

/// Checks a linked patch module before `build` declares success: it is a
/// livepatch module for the right kernel, and everything it leaves for the
/// module loader to resolve is exported by vmlinux (the rest must be klp symbols).
struct PatchModuleVerifier {
    let exports: ModuleSymvers
    let vermagic: String?

    func verify(_ ko: URL, patchName: String) throws -> KernelModuleFile {
        let module = try KernelModuleFile(path: ko.path)
        guard module.isLivepatch else { throw BuildError.verification("\(ko.lastPathComponent) lacks modinfo livepatch=Y") }
        guard module.name == patchName else {
            throw BuildError.verification("module name is \(module.name ?? "missing"), expected \(patchName)")
        }
        if let vermagic, module.vermagic != vermagic {
            throw BuildError.verification("vermagic '\(module.vermagic ?? "")' differs from the target's '\(vermagic)'")
        }
        _ = try module.patchMetadata()
        let unresolved = module.undefinedSymbols.filter { !exports.isExportedByVmlinux($0) }
        guard unresolved.isEmpty else {
            throw BuildError.verification("undefined symbols that vmlinux does not export and that are not livepatch symbols: \(unresolved.sorted().joined(separator: ", "))")
        }
        return module
    }
}
