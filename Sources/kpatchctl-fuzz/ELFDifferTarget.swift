import Foundation
import PatchModel

/// The input is a (mutated) patched object: read in full by the ELF reader, then
/// diffed against the pristine original of its corpus case. KPATCH_FUZZ_PAIR names
/// a directory holding original.o and module.ko of that case (scripts/fuzz
/// compiles it); KPATCH_FUZZ_VMLINUX the debug vmlinux (symbols, BTF layout).
final class ELFDifferTarget: FuzzTarget {
    private let differ: ObjectDiffer
    private let original: URL
    private let input: URL
    private let output: URL

    init(environment: [String: String]) throws {
        guard let pair = environment["KPATCH_FUZZ_PAIR"], let vmlinuxPath = environment["KPATCH_FUZZ_VMLINUX"],
              let symversPath = environment["KPATCH_FUZZ_SYMVERS"] else {
            throw FuzzSetupError("the elf target needs KPATCH_FUZZ_PAIR, KPATCH_FUZZ_VMLINUX and KPATCH_FUZZ_SYMVERS")
        }
        original = URL(fileURLWithPath: pair).appendingPathComponent("original.o")
        let module = try ELFObject(path: "\(pair)/module.ko")
        let moduleName = try KernelModuleFile(path: module.path).name ?? "fuzz"
        let vmlinux = try ELFObject(path: vmlinuxPath)
        differ = ObjectDiffer(objectName: moduleName, target: try TargetSymbols(object: module, objectName: moduleName),
                              vmlinux: try TargetSymbols(object: vmlinux, objectName: "vmlinux"),
                              exports: try ModuleSymvers(contentsOf: URL(fileURLWithPath: symversPath)),
                              layout: try SpecialSectionLayout(btf: BTFTypes(object: vmlinux)))
        // tmpfs: one write per input, no disk traffic.
        let scratch = environment["KPATCH_FUZZ_SCRATCH"] ?? "/dev/shm"
        input = URL(fileURLWithPath: "\(scratch)/kpatchctl-fuzz-\(getpid()).o")
        output = URL(fileURLWithPath: "\(scratch)/kpatchctl-fuzz-\(getpid())-out.o")
    }

    func run(_ bytes: UnsafeRawBufferPointer) {
        guard FileManager.default.createFile(atPath: input.path, contents: Data(bytes)) else {
            fatalError("cannot write \(input.path)")
        }
        do {
            let object = try ELFObject(url: input)
            _ = try object.symbols()
            for section in object.sections where section.type == .rela { _ = try object.relocations(in: section) }
            for section in object.sections where section.occupiesFile { _ = try object.data(of: section) }
            _ = try differ.diff(original: original, patched: input, output: output)
        } catch is ELFError {
        } catch is DifferError {
        } catch is TargetSymbols.LookupError {
        } catch {
            fatalError("untyped error: \(type(of: error)): \(error)")
        }
    }
}
