import Foundation
import PatchModel

/// libFuzzer entry points (scripts/fuzz builds this target with -sanitize=fuzzer,
/// which supplies main). KPATCH_FUZZ_TARGET picks what one process fuzzes:
///   elf       the ELF reader and ObjectDiffer on a mutated patched object
///   metadata  ELF notes and the patch-metadata decoder
///   proc      the /proc, sysfs and tracefs text parsers
/// A fuzz target must never throw out or trap: every input gives a typed error or a result.
// libFuzzer sets it once in LLVMFuzzerInitialize, then calls TestOneInput on that one thread.
nonisolated(unsafe) private var target: FuzzTarget?

protocol FuzzTarget {
    func run(_ bytes: UnsafeRawBufferPointer)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    do {
        switch environment["KPATCH_FUZZ_TARGET"] {
        case "elf": target = try ELFDifferTarget(environment: environment)
        case "metadata": target = MetadataTarget()
        case "proc": target = ProcParsersTarget()
        default: throw FuzzSetupError("set KPATCH_FUZZ_TARGET to elf, metadata or proc")
        }
    } catch {
        FileHandle.standardError.write(Data("kpatchctl-fuzz: \(error)\n".utf8))
        exit(64)
    }
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main` (its main symbol is
/// an alias), so libFuzzer's own main is not used: this one runs libFuzzer's driver.
@_cdecl("kpatchctl_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzerTestOneInput)
}

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target?.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

struct FuzzSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
