/// Binary form of `KthreadReachability`: magic "KPKR", u16 version, then
/// LEB128 varints. Names and units are stored once each; a function is three
/// small numbers plus its edge kind.
extension KthreadReachability {
    public func encode() -> [UInt8] {
        var names: [String: Int] = [:], nameList: [String] = []
        var units: [String: Int] = [:], unitList: [String] = []
        func intern(_ string: String, _ table: inout [String: Int], _ list: inout [String]) -> Int {
            if let index = table[string] { return index }
            table[string] = list.count
            list.append(string)
            return list.count - 1
        }
        let encoded = functions.map { function in
            (intern(function.name, &names, &nameList), intern(function.unit, &units, &unitList))
        }
        var out = BinaryWriter()
        out.raw(Self.magic)
        out.u16(Self.formatVersion)
        out.string(source)
        out.varint(nameList.count); nameList.forEach { out.string($0) }
        out.varint(unitList.count); unitList.forEach { out.string($0) }
        out.varint(functions.count)
        out.varint(targetCount)
        for (function, (name, unit)) in zip(functions, encoded) {
            out.varint(name)
            out.varint(unit)
            out.varint(function.next.map { $0 + 1 } ?? 0)
            out.u8(function.kind.map { $0.rawValue + 1 } ?? 0)
        }
        out.varint(kthreadEntries.count); kthreadEntries.forEach { out.varint($0) }
        return out.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var input = BinaryReader(bytes)
        do {
            guard Array(try input.raw(4, "magic")) == Self.magic else { throw KthreadReachabilityError.badMagic }
            let version = try input.u16("version")
            guard version == Self.formatVersion else { throw KthreadReachabilityError.unsupportedVersion(version) }
            source = try input.string("source")
            let names = try (0..<input.count("name count")).map { _ in try input.string("name") }
            let units = try (0..<input.count("unit count")).map { _ in try input.string("unit") }
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
            kthreadEntries = try (0..<input.count("entry count")).map { _ in try input.varint("entry") }
            guard kthreadEntries.allSatisfy({ $0 < count }) else { throw KthreadReachabilityError.malformed("entry index out of range") }
            guard input.atEnd else { throw KthreadReachabilityError.malformed("trailing bytes") }
        } catch let error as BinaryReader.Truncated {
            throw KthreadReachabilityError.malformed(error.description)
        }
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
