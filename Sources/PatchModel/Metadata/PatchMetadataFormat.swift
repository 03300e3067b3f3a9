/// The binary layout of `PatchMetadata` (docs/PATCH-FORMAT.md).
///
///     immutable header, forever:
///       0  magic "KPCTLMD\0"   8 bytes
///       8  format version      u16
///      10  reserved            u16 (0)
///      12  total size          u32, header included
///     mutable part, version 1:
///      16  required features   u64
///      24  optional features   u64
///      32  records             u16 tag, u16 reserved, u32 size, payload
///
/// Records of unknown tags are skipped, so later versions can add records
/// without breaking older readers; anything a reader must understand is announced
/// by a required feature bit instead.
public enum PatchMetadataFormat {
    /// The blob is the descriptor of an ELF note (owner "kpatchctl", type 1) in
    /// this non-allocated section of the patch module.
    public static let sectionName = ".note.kpatchctl"
    public static let noteOwner = "kpatchctl"
    public static let noteType: UInt32 = 1
    public static let magic: [UInt8] = Array("KPCTLMD".utf8) + [0]
    public static let currentVersion: UInt16 = 1
    static let headerSize = 16

    enum Tag: UInt16 {
        case arch = 1, kernelRelease, vermagic, target, patchName, createdAt, diffSHA256,
             function, toolVersion, kthreadReachability
        /// Where the objects were compiled (host or build root, and the compiler).
        case toolchain
        // The author API (docs/AUTHOR-API.md).
        case callback = 20, state
        /// Why a function is replaced: object, name, sympos, reason kind, detail.
        case functionReason = 32
    }

    public static func encode(_ m: PatchMetadata) -> [UInt8] {
        var w = ByteWriter()
        w.raw(magic)
        w.u16(currentVersion)
        w.u16(0)
        w.u32(0) // total size, patched below
        w.u64(m.requiredFeatures.rawValue)
        w.u64(m.optionalFeatures.rawValue)
        func record(_ tag: Tag, _ body: (inout ByteWriter) -> Void) {
            var payload = ByteWriter()
            body(&payload)
            w.u16(tag.rawValue)
            w.u16(0)
            w.u32(UInt32(payload.bytes.count))
            w.raw(payload.bytes)
        }
        record(.arch) { $0.string(m.arch) }
        record(.kernelRelease) { $0.string(m.kernelRelease) }
        record(.vermagic) { $0.string(m.vermagic) }
        for t in m.targets {
            record(.target) { $0.string(t.object); $0.string(t.buildID ?? "") }
        }
        record(.patchName) { $0.string(m.patchName) }
        record(.createdAt) { $0.u64(m.createdAt) }
        record(.diffSHA256) { $0.string(m.diffSHA256) }
        for f in m.functions {
            record(.function) { $0.string(f.object); $0.string(f.name); $0.u64(UInt64(f.sympos)); $0.string(f.newSymbol) }
        }
        for f in m.functions {
            guard let reason = f.reason else { continue }
            record(.functionReason) {
                $0.string(f.object); $0.string(f.name); $0.u64(UInt64(f.sympos))
                $0.string(reason.kind.rawValue); $0.string(reason.detail ?? "")
            }
        }
        record(.toolVersion) { $0.string(m.toolVersion) }
        if let toolchain = m.toolchain { record(.toolchain) { $0.string(toolchain) } }
        for blob in m.kthreadReachability { record(.kthreadReachability) { $0.blob(blob) } }
        for c in m.callbacks {
            record(.callback) { $0.string(c.object); $0.string(c.kind.rawValue); $0.string(c.function); $0.string(c.newSymbol) }
        }
        for s in m.states { record(.state) { $0.u64(s.id); $0.u64(UInt64(s.version)) } }
        w.patch(u32: UInt32(w.bytes.count), at: 12)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> PatchMetadata {
        var r = ByteReader(bytes)
        let m = try r.raw(magic.count, "magic")
        guard m == magic else { throw PatchMetadataError.badMagic(m) }
        let version = try r.u16("format version")
        guard version >= 1, version <= currentVersion else { throw PatchMetadataError.unsupportedVersion(version) }
        _ = try r.u16("reserved")
        let total = Int(try r.u32("total size"))
        guard total >= headerSize, total <= bytes.count else {
            throw PatchMetadataError.truncated(what: "metadata of \(total) bytes", offset: 12)
        }
        r = ByteReader(bytes, offset: r.offset, end: total)
        let required = PatchFeatures(rawValue: try r.u64("required features"))
        let optional = PatchFeatures(rawValue: try r.u64("optional features"))
        let unknown = required.subtracting(PatchFeatures.knownRequired)
        guard unknown.isEmpty else { throw PatchMetadataError.unknownRequiredFeatures(unknown.rawValue) }

        var fields = RecordFields()
        while !r.atEnd {
            let tag = try r.u16("record tag")
            _ = try r.u16("record reserved")
            let size = Int(try r.u32("record size"))
            var body = try r.sub(size, "record \(tag)")
            guard let known = Tag(rawValue: tag) else { continue }
            try fields.read(known, from: &body)
        }
        var meta = PatchMetadata(
            arch: try fields.require(\.arch, "arch"),
            kernelRelease: try fields.require(\.kernelRelease, "kernel release"),
            vermagic: try fields.require(\.vermagic, "vermagic"),
            targets: fields.targets,
            patchName: try fields.require(\.patchName, "patch name"),
            createdAt: try fields.require(\.createdAt, "creation time"),
            diffSHA256: try fields.require(\.diffSHA256, "diff SHA-256"),
            functions: fields.functionsWithReasons(),
            toolVersion: try fields.require(\.toolVersion, "tool version"),
            kthreadReachability: fields.kthreadReachability, callbacks: fields.callbacks, states: fields.states,
            toolchain: fields.toolchain)
        meta.formatVersion = version
        meta.requiredFeatures = required
        meta.optionalFeatures = optional
        return meta
    }

    /// Records as they are read, before the required ones are checked.
    private struct RecordFields {
        var arch, kernelRelease, vermagic, patchName, diffSHA256, toolVersion, toolchain: String?
        var createdAt: UInt64?
        var targets: [PatchMetadata.Target] = []
        var functions: [PatchMetadata.Function] = []
        var kthreadReachability: [[UInt8]] = []
        var callbacks: [PatchCallback] = []
        var states: [SystemState] = []
        /// Reasons by (object, name, sympos); a reason of an unknown kind is ignored.
        var reasons: [String: ChangeReason] = [:]

        func functionsWithReasons() -> [PatchMetadata.Function] {
            functions.map { f in
                var f = f
                f.reason = reasons["\(f.object)\u{0}\(f.name)\u{0}\(f.sympos)"]
                return f
            }
        }

        func require<T>(_ field: KeyPath<RecordFields, T?>, _ name: String) throws -> T {
            guard let v = self[keyPath: field] else { throw PatchMetadataError.missingRecord(name) }
            return v
        }

        mutating func read(_ tag: Tag, from r: inout ByteReader) throws {
            switch tag {
            case .arch: arch = try r.string("arch")
            case .kernelRelease: kernelRelease = try r.string("kernel release")
            case .vermagic: vermagic = try r.string("vermagic")
            case .target:
                let object = try r.string("target object")
                let id = try r.string("target build id")
                targets.append(.init(object: object, buildID: id.isEmpty ? nil : id))
            case .patchName: patchName = try r.string("patch name")
            case .createdAt: createdAt = try r.u64("creation time")
            case .diffSHA256: diffSHA256 = try r.string("diff SHA-256")
            case .function:
                let object = try r.string("function object")
                let name = try r.string("function name")
                let sympos = try r.u64("function sympos")
                guard sympos <= UInt64(Int32.max) else {
                    throw PatchMetadataError.badRecord(tag: tag.rawValue, why: "sympos \(sympos) out of range")
                }
                functions.append(.init(object: object, name: name, sympos: Int(sympos),
                                       newSymbol: try r.string("function new symbol")))
            case .toolVersion: toolVersion = try r.string("tool version")
            case .toolchain: toolchain = try r.string("toolchain")
            case .kthreadReachability: kthreadReachability.append(try r.blob("kthread reachability"))
            case .functionReason:
                let key = "\(try r.string("reason object"))\u{0}\(try r.string("reason function"))\u{0}\(try r.u64("reason sympos"))"
                let kind = try r.string("reason kind"), detail = try r.string("reason detail")
                if let known = ChangeReason.Kind(rawValue: kind) { reasons[key] = ChangeReason(known, detail.isEmpty ? nil : detail) }
            case .callback:
                let object = try r.string("callback object")
                let kindName = try r.string("callback kind")
                guard let kind = CallbackKind(rawValue: kindName) else {
                    throw PatchMetadataError.badRecord(tag: tag.rawValue, why: "unknown callback kind '\(kindName)'")
                }
                callbacks.append(PatchCallback(object: object, kind: kind, function: try r.string("callback function"),
                                               newSymbol: try r.string("callback symbol")))
            case .state:
                let id = try r.u64("state id")
                let version = try r.u64("state version")
                guard version <= UInt64(UInt32.max) else {
                    throw PatchMetadataError.badRecord(tag: tag.rawValue, why: "state version \(version) out of range")
                }
                states.append(SystemState(id: id, version: UInt32(version)))
            }
        }
    }
}
