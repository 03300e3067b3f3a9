/// The intermediate form of livepatch relocations, shared by the differ (which
/// writes it) and `KlpPostLink` (which turns it into `.klp.rela.*` sections).
/// See docs/PATCH-OBJECT.md.
///
/// `.note.kpatch.klp.relocs` (not allocated; `.note.*` so modpost accepts it) holds one 32-byte record per
/// livepatch relocation:
///
///     0  u64 place    RELA R_X86_64_64 -> the section to patch, addend = offset
///     8  u64 name     RELA R_X86_64_64 -> `.note.kpatch.klp.strings`, addend = name offset
///     16 u32 type     the x86-64 relocation type to apply
///     20 u32 reserved 0
///     24 i64 addend   the relocation's addend
///
/// `.note.kpatch.klp.strings` (not allocated) holds the NUL-terminated symbol names
/// `.klp.sym.<object>.<name>,<sympos>`. Both fields are located through
/// ordinary relocations, so `ld -r` keeps them right when it merges sections
/// and objects; no SHN_LIVEPATCH symbol and no unresolved symbol exists
/// before the post-link step.
enum KlpRecords {
    static let recordsSection = ".note.kpatch.klp.relocs"
    static let stringsSection = ".note.kpatch.klp.strings"
    static let recordSize = 32
    static let placeField = 0
    static let nameField = 8
    static let typeField = 16
    static let addendField = 24

    /// Encodes the non-relocated fields of one record.
    static func record(type: X86Relocation, addend: Int64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: recordSize)
        withUnsafeBytes(of: type.rawValue.littleEndian) { bytes.replaceSubrange(typeField..<typeField + 4, with: $0) }
        withUnsafeBytes(of: addend.littleEndian) { bytes.replaceSubrange(addendField..<addendField + 8, with: $0) }
        return bytes
    }

    /// Decodes the type and addend of the record at `offset` of `bytes`.
    static func fields(of bytes: [UInt8], at offset: Int) -> (type: X86Relocation, addend: Int64) {
        var type: UInt32 = 0, addend: Int64 = 0
        withUnsafeMutableBytes(of: &type) { $0.copyBytes(from: bytes[(offset + typeField)..<(offset + typeField + 4)]) }
        withUnsafeMutableBytes(of: &addend) { $0.copyBytes(from: bytes[(offset + addendField)..<(offset + addendField + 8)]) }
        return (X86Relocation(rawValue: UInt32(littleEndian: type)), Int64(littleEndian: addend))
    }
}
