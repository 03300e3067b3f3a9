import PatchModel

/// Binary form of `KthreadReachability`: magic "KPKR", u16 version, (from
/// version 2) a scope byte, the source, (from version 3) the object, then LEB128 varints (version 5 ends with
/// each function's inlined bodies on its path, then where each shared datum is read). Names and units are stored once each, sorted and front-coded
/// (kernel names share long prefixes); a function is three small numbers plus
/// its edge kind.
extension KthreadReachability {
    public func encode() -> [UInt8] {
        let nameList = Array(Set(functions.map(\.name) + functions.flatMap(\.via))).sorted(), unitList = Array(Set(functions.map(\.unit))).sorted()
        let names = Dictionary(uniqueKeysWithValues: nameList.enumerated().map { ($1, $0) })
        let units = Dictionary(uniqueKeysWithValues: unitList.enumerated().map { ($1, $0) })
        let encoded = functions.map { (names[$0.name]!, units[$0.unit]!) }
        var out = BinaryWriter()
        out.raw(Self.magic)
        out.u16(Self.formatVersion)
        out.u8(scope.rawValue)
        out.string(source)
        out.string(object)
        Self.writeFrontCoded(nameList, to: &out)
        Self.writeFrontCoded(unitList, to: &out)
        out.varint(functions.count)
        out.varint(targetCount)
        for (function, (name, unit)) in zip(functions, encoded) {
            out.varint(name)
            out.varint(unit)
            out.varint(function.next.map { $0 + 1 } ?? 0)
            out.u8(function.kind.map { $0.rawValue + 1 } ?? 0)
        }
        var bits = [UInt8](repeating: 0, count: (functions.count + 7) / 8)
        for (i, function) in functions.enumerated() where function.passesNothingBack { bits[i / 8] |= 1 << (i % 8) }
        out.raw(bits)
        out.varint(kthreadEntries.count); kthreadEntries.forEach { out.varint($0) }
        out.varint(resumeTables.count)
        for table in resumeTables {
            out.varint(table.function)
            out.varint(table.points.count)
            for (offset, hops) in table.points.sorted(by: { $0.key < $1.key }) {
                out.varint(Int(offset))
                out.varint(hops.count); hops.forEach { out.varint($0) }
            }
        }
        out.u8(dataChecked ? 1 : 0)
        out.varint(sharedData.count)
        for shared in sharedData {
            out.varint(shared.entry); out.varint(shared.writer); out.string(shared.data)
        }
        for function in functions {
            out.varint(function.via.count); function.via.forEach { out.varint(names[$0]!) }
        }
        for shared in sharedData { out.string(shared.readIn ?? "") }
        return out.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var input = BinaryReader(bytes)
        do {
            guard Array(try input.raw(4, "magic")) == Self.magic else { throw KthreadReachabilityError.badMagic }
            let version = try input.u16("version")
            // Version 1 had no scope: its targets were all refused when reached, as `passesValues` is.
            guard (1...Self.formatVersion).contains(version) else { throw KthreadReachabilityError.unsupportedVersion(version) }
            let scopeByte = version == 1 ? Scope.passesValues.rawValue : try input.u8("scope")
            guard let scope = Scope(rawValue: scopeByte), version >= 3 || scope != .changesCallingTask else {
                throw KthreadReachabilityError.malformed("unknown scope \(scopeByte)")
            }
            self.scope = scope
            source = try input.string("source")
            object = version >= 3 ? try input.string("object") : ""
            valueFlow = version >= 4
            let names = try Self.readFrontCoded(&input, "name")
            let units = try Self.readFrontCoded(&input, "unit")
            let count = try input.count("function count")
            targetCount = try input.varint("target count")
            guard targetCount <= count else { throw KthreadReachabilityError.malformed("more targets than functions") }
            functions = []
            functions.reserveCapacity(min(count, bytes.count))
            for i in 0..<count {
                let name = try input.varint("function name"), unit = try input.varint("function unit")
                let next = try input.varint("next"), kind = try input.u8("kind")
                guard name < names.count, unit < units.count, next <= count else {
                    throw KthreadReachabilityError.malformed("function \(i) refers past the tables")
                }
                // Paths only lead toward targets, which come first: next must point to an earlier entry.
                guard (next == 0) == (i < targetCount), next == 0 || next - 1 < i else {
                    throw KthreadReachabilityError.malformed("function \(i) has an inconsistent next hop")
                }
                let callKind: CallKind? = kind == 0 ? nil : CallKind(rawValue: kind - 1)
                guard (kind == 0) == (next == 0), kind == 0 || callKind != nil else {
                    throw KthreadReachabilityError.malformed("function \(i) has a bad call kind \(kind)")
                }
                functions.append(Function(name: names[name], unit: units[unit],
                                          next: next == 0 ? nil : next - 1, kind: callKind))
            }
            if version >= 2 {
                let bits = Array(try input.raw((count + 7) / 8, "pass-nothing-back bits"))
                for i in functions.indices { functions[i].passesNothingBack = bits[i / 8] & (1 << (i % 8)) != 0 }
            }
            kthreadEntries = try (0..<input.count("entry count")).map { _ in try input.varint("entry") }
            guard kthreadEntries.allSatisfy({ $0 < count }) else { throw KthreadReachabilityError.malformed("entry index out of range") }
            resumeTables = []
            if version >= 2 {
                for _ in 0..<(try input.count("resume table count")) {
                    let function = try input.varint("resume function")
                    var points: [UInt32: [Int]] = [:]
                    for _ in 0..<(try input.count("resume point count")) {
                        let offset = try input.varint("resume offset")
                        let hops = try (0..<input.count("resume hop count")).map { _ in try input.varint("resume hop") }
                        guard offset <= Int(UInt32.max), points[UInt32(offset)] == nil else {
                            throw KthreadReachabilityError.malformed("resume offset \(offset) is repeated or too large")
                        }
                        points[UInt32(offset)] = hops
                    }
                    guard function < count, points.values.allSatisfy({ $0.allSatisfy { $0 < count } }) else {
                        throw KthreadReachabilityError.malformed("resume table index out of range")
                    }
                    resumeTables.append(ResumeTable(function: function, points: points))
                }
            }
            if version >= 4 {
                dataChecked = try input.u8("data checked") != 0
                sharedData = try (0..<input.count("shared data count")).map { _ in
                    SharedData(entry: try input.varint("shared entry"), writer: try input.varint("shared writer"), data: try input.string("shared data"))
                }
                guard sharedData.allSatisfy({ $0.entry < count && $0.writer < count }) else {
                    throw KthreadReachabilityError.malformed("shared data index out of range")
                }
            }
            if version >= 5 {
                for i in functions.indices {
                    functions[i].via = try (0..<input.count("inlined body count")).map { _ in
                        let name = try input.varint("inlined body")
                        guard name < names.count else { throw KthreadReachabilityError.malformed("inlined body name out of range") }
                        return names[name]
                    }
                }
                for i in sharedData.indices {
                    let readIn = try input.string("shared data reader")
                    sharedData[i].readIn = readIn.isEmpty ? nil : readIn
                }
            }
            guard input.atEnd else { throw KthreadReachabilityError.malformed("trailing bytes") }
            guard scope != .unit || targetUnit != nil else {
                throw KthreadReachabilityError.malformed("a unit record's targets are not in one compilation unit")
            }
        } catch let error as BinaryReader.Truncated {
            throw KthreadReachabilityError.malformed(error.description)
        }
    }

    /// Each string as the length of the prefix it shares with the previous one plus the rest.
    private static func writeFrontCoded(_ strings: [String], to out: inout BinaryWriter) {
        out.varint(strings.count)
        var previous: [UInt8] = []
        for string in strings {
            let bytes = Array(string.utf8)
            let shared = zip(previous, bytes).prefix { $0 == $1 }.count
            out.varint(shared)
            out.varint(bytes.count - shared)
            out.raw(Array(bytes[shared...]))
            previous = bytes
        }
    }

    private static func readFrontCoded(_ input: inout BinaryReader, _ what: String) throws -> [String] {
        var strings: [String] = []
        var previous: [UInt8] = []
        for _ in 0..<(try input.count("\(what) count")) {
            let shared = try input.varint("\(what) prefix")
            guard shared <= previous.count else { throw KthreadReachabilityError.malformed("\(what) prefix longer than the previous \(what)") }
            let rest = try input.raw(try input.varint("\(what) length"), what)
            previous = Array(previous[..<shared]) + rest
            strings.append(String(decoding: previous, as: UTF8.self))
        }
        return strings
    }
}

public enum KthreadReachabilityError: Error, CustomStringConvertible, Equatable {
    case badMagic
    case unsupportedVersion(UInt16)
    case malformed(String)

    public var description: String {
        switch self {
        case .badMagic: return "kthread reachability data does not start with KPKR"
        case .unsupportedVersion(let v):
            return "kthread reachability format version \(v); this kpatchctl reads \(KthreadReachability.formatVersion): rebuild the patch with this kpatchctl"
        case .malformed(let why): return "kthread reachability data is malformed: \(why)"
        }
    }
}
