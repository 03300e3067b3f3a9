import Foundation
@testable import PatchModel
import TestSupport

/// What a differ needs from one kernel: its Module.symvers, its debug vmlinux
/// (symbols for sympos, BTF for special-section layout).
final class DifferInputs {
    let bed: TestBed
    let symvers: Result<ModuleSymvers, Error>
    let vmlinuxObject: Result<ELFObject, Error>
    let vmlinux: Result<TargetSymbols, Error>
    let layout: Result<SpecialSectionLayout, Error>

    init(bed: TestBed) {
        self.bed = bed
        symvers = Result { try ModuleSymvers(contentsOf: bed.headers.appendingPathComponent("Module.symvers")) }
        let object = Result { try ELFObject(url: bed.debugVmlinux) }
        vmlinuxObject = object
        vmlinux = Result { try TargetSymbols(object: object.get(), objectName: "vmlinux") }
        layout = Result { try SpecialSectionLayout(btf: BTFTypes(object: object.get())) }
    }

    /// A differ for a corpus case: the case's module is the target.
    func differ(for compiled: CompiledCase, shared: Set<String> = []) throws -> ObjectDiffer {
        let module = try ELFObject(url: compiled.originalModule)
        return ObjectDiffer(objectName: compiled.moduleName,
                            target: try TargetSymbols(object: module, objectName: compiled.moduleName),
                            vmlinux: try vmlinux.get(), exports: try symvers.get(), layout: try layout.get(),
                            shared: shared)
    }
}

/// Inputs every differ test of the pinned kernel shares.
enum DifferFixture {
    static let inputs = DifferInputs(bed: TestBed.shared)
    static var bed: TestBed { inputs.bed }
    static var symvers: Result<ModuleSymvers, Error> { inputs.symvers }
    static var vmlinuxObject: Result<ELFObject, Error> { inputs.vmlinuxObject }
    static var vmlinux: Result<TargetSymbols, Error> { inputs.vmlinux }
    static var layout: Result<SpecialSectionLayout, Error> { inputs.layout }

    static func differ(for compiled: CompiledCase, shared: Set<String> = []) throws -> ObjectDiffer {
        try inputs.differ(for: compiled, shared: shared)
    }
}
