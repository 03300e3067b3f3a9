import CCompress
import FoundationEssentials

/// A kernel module file as a distribution installs it: the one way kpatchctl finds and reads
/// one, at build time (target and debug modules) and at run time (the running kernel's
/// vermagic). Debian's 6.12 packages compress every module (`CONFIG_MODULE_COMPRESS_XZ`:
/// `binfmt_misc.ko.xz`); 6.1's are plain `.ko`. libelf reads only the plain form, so a
/// compressed module is decompressed in process (liblzma, zlib) before its symbols,
/// modinfo, build id or DWARF are read.
public enum ModuleFile {
    public enum Compression: String, Sendable, CaseIterable {
        case xz, zst, gz
        var suffix: String { "." + rawValue }
    }

    /// The Kbuild module name of a file name (`twofish-x86_64-3way.ko.xz` is module
    /// `twofish_x86_64_3way`; files may use `-` for any `_`), nil when it is not a module.
    public static func moduleName(of fileName: String) -> String? {
        var name = Substring(fileName)
        if let c = compression(of: fileName) { name = name.dropLast(c.suffix.count) }
        guard name.hasSuffix(".ko") else { return nil }
        return String(name.dropLast(3)).replacing("-", with: "_")
    }

    /// How a module file is compressed (`CONFIG_MODULE_COMPRESS_*`), nil for a plain `.ko`.
    public static func compression(of fileName: String) -> Compression? {
        Compression.allCases.first { fileName.hasSuffix(".ko" + $0.suffix) }
    }

    /// `module` itself when it is plain ELF, else its decompressed copy in `directory`
    /// (made once: a later call reuses it).
    public static func readable(_ module: URL, in directory: URL) throws -> URL {
        guard let c = compression(of: module.lastPathComponent) else { return module }
        let plain = directory.appendingPathComponent(String(module.lastPathComponent.dropLast(c.suffix.count)))
        let fm = FileManager.default
        if fm.fileExists(atPath: plain.path) { return plain }
        let bytes = try plainBytes(of: module.path)
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        // Written beside and renamed: a reader never sees half a module.
        let partial = directory.appendingPathComponent(plain.lastPathComponent + ".partial")
        guard fm.createFile(atPath: partial.path, contents: Data(bytes)) else {
            throw ModuleFileError.cannotWrite(file: partial.path)
        }
        try fm.moveItem(at: partial, to: plain)
        return plain
    }

    /// The module's ELF bytes, decompressed when its name says it is compressed.
    public static func plainBytes(of path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModuleFileError.cannotRead(file: path) }
        switch compression(of: String(path.split(separator: "/").last ?? Substring(path))) {
        case nil: return [UInt8](data)
        case .xz: return try unxz([UInt8](data), file: path)
        case .gz: return try gunzip([UInt8](data), file: path)
        case .zst: throw ModuleFileError.unsupported(file: path, compression: "zstd")
        }
    }

    private static func unxz(_ input: [UInt8], file: String) throws -> [UInt8] {
        var stream = lzma_stream()
        guard lzma_stream_decoder(&stream, UInt64.max, 0x08 /* LZMA_CONCATENATED: a macro Swift does not import */) == LZMA_OK else {
            throw ModuleFileError.corrupt(file: file, reason: "liblzma: cannot start a decoder")
        }
        defer { lzma_end(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try input.withUnsafeBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = source.count
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (lzma_ret, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = out.count
                    let status = lzma_code(&stream, stream.avail_in == 0 ? LZMA_FINISH : LZMA_RUN)
                    return (status, out.count - stream.avail_out)
                }
                output += chunk[..<produced]
                if status == LZMA_STREAM_END { return output }
                guard status == LZMA_OK else { throw ModuleFileError.corrupt(file: file, reason: "liblzma error \(status.rawValue)") }
                if produced == 0 && stream.avail_in == 0 {
                    // LZMA_FINISH with nothing left to give and nothing produced: the stream is cut short.
                    throw ModuleFileError.corrupt(file: file, reason: "the xz stream ends early")
                }
            }
        }
    }

    private static func gunzip(_ input: [UInt8], file: String) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a gzip header, the widest window.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ModuleFileError.corrupt(file: file, reason: "zlib: cannot start inflating")
        }
        defer { inflateEnd(&stream) }
        var input = input
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                output += chunk[..<produced]
                if status == Z_STREAM_END { return output }
                guard status == Z_OK, produced > 0 || stream.avail_in > 0 else {
                    throw ModuleFileError.corrupt(file: file, reason: status == Z_OK || status == Z_BUF_ERROR ? "the gzip stream ends early" : "zlib error \(status)")
                }
            }
        }
    }
}

public enum ModuleFileError: Error, CustomStringConvertible, Equatable {
    case cannotRead(file: String)
    case cannotWrite(file: String)
    case corrupt(file: String, reason: String)
    case unsupported(file: String, compression: String)

    public var description: String {
        switch self {
        case .cannotRead(let f): return "\(f): cannot read the module file"
        case .cannotWrite(let f): return "\(f): cannot write the decompressed module"
        case .corrupt(let f, let reason): return "\(f): cannot decompress the module: \(reason)"
        case .unsupported(let f, let c):
            return "\(f): \(c)-compressed modules are not read (xz and gzip are); decompress it (`\(c) -d`) and pass the plain .ko"
        }
    }
}
