import Foundation
@testable import PatchModel
import TestSupport

/// Inputs every differ test shares: the pinned kernel's Module.symvers, the
/// debug vmlinux (symbols for sympos, BTF for special-section layout).
enum DifferFixture {
    static let bed = TestBed.shared
    static let symvers: Result<ModuleSymvers, Error> = Result {
        try ModuleSymvers(contentsOf: bed.headers.appendingPathComponent("Module.symvers"))
    }
    static let vmlinuxObject: Result<ELFObject, Error> = Result { try ELFObject(url: bed.debugVmlinux) }
    static let vmlinux: Result<TargetSymbols, Error> = Result {
        try TargetSymbols(object: vmlinuxObject.get(), objectName: "vmlinux")
    }
    static let layout: Result<SpecialSectionLayout, Error> = Result {
        try SpecialSectionLayout(btf: BTFTypes(object: vmlinuxObject.get()))
    }

    /// A differ for a corpus case: the case's module is the target.
    static func differ(for compiled: CompiledCase, shared: Set<String> = []) throws -> ObjectDiffer {
        let module = try ELFObject(url: compiled.originalModule)
        return ObjectDiffer(objectName: compiled.moduleName,
                            target: try TargetSymbols(object: module, objectName: compiled.moduleName),
                            vmlinux: try vmlinux.get(), exports: try symvers.get(), layout: try layout.get(),
                            shared: shared)
    }
}
