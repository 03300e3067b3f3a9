import FoundationEssentials
import PatchModel

/// Checks a linked patch module before `build` declares success: it is a
/// livepatch module for the right kernel, and everything it leaves for the
/// module loader to resolve is exported by vmlinux or by a module it depends on
/// (the rest must be klp symbols).
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
        let unresolved = module.undefinedSymbols.filter { exports.exporter(of: $0) == nil }
        guard unresolved.isEmpty else {
            throw BuildError.verification("undefined symbols that neither vmlinux nor a module exports (Module.symvers) and that are not livepatch symbols: \(unresolved.sorted().joined(separator: ", "))")
        }
        // Another module's exports: modpost must have made that module a dependency, so the
        // loader resolves them (and modprobe loads it first).
        let depends = Set((module.modinfo("depends") ?? "").split(separator: ",").map { ModuleSymvers.livepatchName(String($0)) })
        let missing = module.undefinedSymbols.compactMap { symbol in
            exports.exporter(of: symbol).flatMap { $0 == "vmlinux" || depends.contains(ModuleSymvers.livepatchName($0)) ? nil : "\(symbol) (\($0))" }
        }
        guard missing.isEmpty else {
            throw BuildError.verification("the patch module uses exports of modules it does not depend on (modinfo depends=\(module.modinfo("depends") ?? "")): \(missing.sorted().joined(separator: ", "))")
        }
        return module
    }
}
