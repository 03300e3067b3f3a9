import Foundation

/// Builds out-of-tree modules against the bed's headers with the kernel's compiler, as a user would.
public struct KbuildModule {
    public let bed: TestBed
    public init(bed: TestBed = .shared) { self.bed = bed }

    /// Copies `sources` into a fresh directory (`into`, else a scratch one), runs Kbuild there
    /// and returns it. `extraSymbols`: Module.symvers files of other modules it calls
    /// (`KBUILD_EXTRA_SYMBOLS`).
    public func build(_ label: String, sources: URL, into: URL? = nil, extraCflags: String = "", extraSymbols: [URL] = []) throws -> URL {
        let dir = try into ?? bed.scratch("kbuild-\(label)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: sources.path) {
            try FileManager.default.copyItem(at: sources.appendingPathComponent(name),
                                             to: dir.appendingPathComponent(name))
        }
        var argv = ["make", "-s", "-C", bed.headers.path, "M=\(dir.path)", "modules"]
        if !extraCflags.isEmpty { argv.append("ccflags-y+=\(extraCflags)") }
        if !extraSymbols.isEmpty { argv.append("KBUILD_EXTRA_SYMBOLS=\(extraSymbols.map(\.path).joined(separator: " "))") }
        try runChecked(try bed.inToolchain(argv))
        return dir
    }
}
