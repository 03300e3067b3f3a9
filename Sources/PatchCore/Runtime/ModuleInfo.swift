import CElf
import Glibc

public enum ModuleInfoError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, errno: Int32)
    case notELF(path: String, reason: String)
    case notModule(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let e): return "cannot read \(path): \(String(cString: strerror(e)))"
        case .notELF(let path, let reason): return "\(path) is not an ELF file (\(reason)): pass a .ko built by kpatchctl build"
        case .notModule(let path, let reason): return "\(path) is not a kernel module: \(reason)"
        }
    }
}

/// The `.modinfo` section of a `.ko` (`key=value` strings, NUL-separated): the
/// module's name, vermagic and livepatch flag, readable without loading it.
public struct ModuleInfo: Equatable, Sendable {
    public let path: String
    /// Entries in file order; keys such as `alias` may repeat.
    public let entries: [(key: String, value: String)]

    public static func == (a: ModuleInfo, b: ModuleInfo) -> Bool {
        a.path == b.path && a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
    }

    public func value(_ key: String) -> String? { entries.first { $0.key == key }?.value }

    /// modpost writes `name=` (KBUILD_MODNAME): the name the kernel registers,
    /// and for a livepatch the name of its /sys/kernel/livepatch directory.
    public var name: String? { value("name") }
    public var vermagic: String? { value("vermagic") }
    public var isLivepatch: Bool { value("livepatch") == "Y" }

    public init(path: String) throws {
        ELFLibrary.ensureInitialized()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModuleInfoError.unreadable(path: path, errno: errno) }
        defer { close(fd) }
        guard let elf = elf_begin(fd, ELF_C_READ, nil) else {
            throw ModuleInfoError.notELF(path: path, reason: String(cString: elf_errmsg(-1)))
        }
        defer { elf_end(elf) }
        guard elf_kind(elf) == ELF_K_ELF else { throw ModuleInfoError.notELF(path: path, reason: "no ELF header") }
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else {
            throw ModuleInfoError.notELF(path: path, reason: String(cString: elf_errmsg(-1)))
        }
        guard header.e_type == UInt16(ET_REL) else {
            throw ModuleInfoError.notModule(path: path, reason: "ELF type \(header.e_type), a module is relocatable (ET_REL)")
        }
        var stringTable = 0
        guard elf_getshdrstrndx(elf, &stringTable) == 0 else {
            throw ModuleInfoError.notELF(path: path, reason: String(cString: elf_errmsg(-1)))
        }
        var section = elf_nextscn(elf, nil)
        while let scn = section {
            var sh = GElf_Shdr()
            if gelf_getshdr(scn, &sh) != nil, let name = elf_strptr(elf, stringTable, Int(sh.sh_name)),
               String(cString: name) == ".modinfo" {
                guard let data = elf_getdata(scn, nil), let buf = data.pointee.d_buf else {
                    throw ModuleInfoError.notModule(path: path, reason: "unreadable .modinfo section: \(String(cString: elf_errmsg(-1)))")
                }
                let bytes = UnsafeRawBufferPointer(start: buf, count: data.pointee.d_size)
                self.path = path
                self.entries = ModuleInfo.parse(bytes)
                return
            }
            section = elf_nextscn(elf, scn)
        }
        throw ModuleInfoError.notModule(path: path, reason: "no .modinfo section")
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> [(key: String, value: String)] {
        bytes.split(separator: 0).compactMap { raw in
            let text = String(decoding: raw, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
    }
}
