import CElf
import Foundation

/// The GNU build id of an ELF file, read from its notes with libelf alone:
/// cheap even for the 633 MB debug vmlinux (no DWARF is touched).
public enum ELFBuildID {
    private static let gnuBuildIDNote = UInt32(NT_GNU_BUILD_ID)

    /// Lowercase hex, or nil when the file has no GNU build-id note.
    public static func read(path: String) throws -> String? {
        ELFLibrary.ensureInitialized()
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CallGraphError.dwarf(path: path, what: "open", message: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else {
            throw CallGraphError.dwarf(path: path, what: "elf_begin", message: String(cString: elf_errmsg(-1)))
        }
        defer { elf_end(elf) }
        var section = elf_nextscn(elf, nil)
        while let current = section {
            defer { section = elf_nextscn(elf, current) }
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_type == UInt32(SHT_NOTE),
                  let data = elf_getdata(current, nil) else { continue }
            var offset = 0
            var note = GElf_Nhdr()
            var nameOffset = 0, descOffset = 0
            while true {
                let next = gelf_getnote(data, offset, &note, &nameOffset, &descOffset)
                guard next > 0, let base = data.pointee.d_buf else { break }
                offset = next
                let name = base.advanced(by: nameOffset).assumingMemoryBound(to: CChar.self)
                guard note.n_type == gnuBuildIDNote, note.n_namesz == 4, String(cString: name) == "GNU" else { continue }
                let bytes = UnsafeRawBufferPointer(start: base.advanced(by: descOffset), count: Int(note.n_descsz))
                return hex(bytes)
            }
        }
        return nil
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
