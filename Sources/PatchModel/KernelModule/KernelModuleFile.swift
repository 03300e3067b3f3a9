import FoundationEssentials

/// A kernel module file (.ko) as the loader and the user see it: its .modinfo
/// fields, its GNU build id, its undefined symbols, and kpatchctl's metadata
/// when it is a patch module.
public struct KernelModuleFile: Sendable {
    public let path: String
    /// `.modinfo` key/value pairs in file order (keys may repeat, e.g. `depends`).
    public let modinfo: [(key: String, value: String)]
    /// Lower-case hex GNU build id, when the module has one.
    public let buildID: String?
    /// Names of undefined symbols that are not livepatch-resolved.
    public let undefinedSymbols: [String]
    /// Names of `SHN_LIVEPATCH` symbols (`.klp.sym.<obj>.<name>,<pos>`).
    public let livepatchSymbols: [String]
    private let metadataBytes: [UInt8]?

    /// A module file, plain or compressed as installed (`ModuleFile`: `.ko.xz` on Debian's 6.12).
    public init(path: String) throws {
        self.path = path
        let elf = ModuleFile.compression(of: String(path.split(separator: "/").last ?? Substring(path))) == nil
            ? try ELFObject(path: path, allowedTypes: [.relocatable])
            : try ELFObject(image: ModuleFile.plainBytes(of: path), name: path, allowedTypes: [.relocatable])
        if let modinfoSection = elf.section(named: ".modinfo") {
            modinfo = Self.parseModinfo(try elf.data(of: modinfoSection))
        } else {
            modinfo = []
        }
        buildID = try elf.gnuBuildID()
        var undefined: [String] = [], livepatch: [String] = []
        for symbol in try elf.symbols() where symbol.index != 0 {
            if symbol.sectionIndex == SpecialSection.livepatch { livepatch.append(symbol.name) }
            else if symbol.isUndefined, !symbol.name.isEmpty { undefined.append(symbol.name) }
        }
        undefinedSymbols = undefined
        livepatchSymbols = livepatch
        metadataBytes = try elf.section(named: PatchMetadataFormat.sectionName).flatMap { section in
            ELFNotes.parse(try elf.data(of: section)).first {
                $0.owner == PatchMetadataFormat.noteOwner && $0.type == PatchMetadataFormat.noteType
            }?.descriptor
        }
    }

    public func modinfo(_ key: String) -> String? { modinfo.first { $0.key == key }?.value }
    public var name: String? { modinfo("name") }
    public var vermagic: String? { modinfo("vermagic") }
    public var isLivepatch: Bool { modinfo("livepatch") == "Y" }

    /// The patch metadata; throws when the module was not built by kpatchctl.
    public func patchMetadata() throws -> PatchMetadata {
        guard let bytes = metadataBytes else { throw PatchMetadataError.noMetadataSection(file: path) }
        return try PatchMetadataFormat.decode(bytes)
    }

    /// `.modinfo` is a run of NUL-terminated `key=value` strings.
    static func parseModinfo(_ bytes: [UInt8]) -> [(key: String, value: String)] {
        bytes.split(separator: 0).compactMap { entry in
            let text = String(decoding: entry, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
    }
}

/// ELF notes (`.note.*` sections, /sys/kernel/notes, /sys/module/<m>/notes/*):
/// namesz, descsz, type, name, desc, name and desc each padded to 4 bytes.
public enum ELFNotes {
    public struct Note: Equatable {
        /// The owner without its terminating NUL.
        public let owner: String
        public let type: UInt32
        public let descriptor: [UInt8]
    }

    /// Every well-formed note, in order; parsing stops at the first truncated one.
    public static func parse(_ bytes: [UInt8]) -> [Note] {
        var notes: [Note] = []
        var r = ByteReader(bytes)
        while r.remaining >= 12 {
            guard let nameSize = try? r.u32("note name size"), let descSize = try? r.u32("note desc size"),
                  let type = try? r.u32("note type"),
                  let name = try? r.raw(Int(nameSize), "note name"), (try? r.raw(padding(nameSize), "pad")) != nil,
                  let desc = try? r.raw(Int(descSize), "note desc")
            else { break }
            _ = try? r.raw(padding(descSize), "pad")
            notes.append(Note(owner: String(decoding: name.prefix { $0 != 0 }, as: UTF8.self), type: type, descriptor: desc))
        }
        return notes
    }

    private static func padding(_ size: UInt32) -> Int { Int((4 - size % 4) % 4) }
}

/// The GNU build id note (owner "GNU", type NT_GNU_BUILD_ID).
public enum GNUBuildIDNote {
    static let typeBuildID: UInt32 = 3

    /// The first GNU build-id note's descriptor as lower-case hex.
    public static func parse(_ bytes: [UInt8]) -> String? {
        ELFNotes.parse(bytes).first { $0.owner == "GNU" && $0.type == typeBuildID }
            .map { hexString($0.descriptor) }
    }
}
