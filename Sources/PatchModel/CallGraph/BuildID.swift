/// The GNU build id of an ELF file, from its note sections (no DWARF is
/// touched: cheap even for the 633 MB debug vmlinux).
public enum ELFBuildID {
    /// Lowercase hex, or nil when the file has no GNU build-id note.
    public static func read(path: String) throws -> String? {
        try ELFObject(path: path).gnuBuildID()
    }
}

extension ELFObject {
    /// The GNU build id from the file's note sections, lowercase hex.
    public func gnuBuildID() throws -> String? {
        for section in sections where section.type == .note {
            if let id = GNUBuildIDNote.parse(try data(of: section)) { return id }
        }
        return nil
    }
}
