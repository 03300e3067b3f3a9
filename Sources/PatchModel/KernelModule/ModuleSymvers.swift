import FoundationEssentials

/// The exported-symbol list Kbuild writes (`Module.symvers`): one line per
/// symbol, `0xCRC<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace`.
/// Every line is checked when read; the fields of a line become an `Export`
/// only when it is looked up (a diff asks about a handful of the 25k exports).
public struct ModuleSymvers: Sendable {
    public struct Export: Hashable, Sendable {
        public let symbol: String
        public let module: String
        public let crc: UInt32
        public let gplOnly: Bool
        public let namespace: String
    }

    /// The file's bytes and where each line's fields lie in them.
    private let text: [UInt8]
    private let lines: [Line]
    private let index: ByteStringIndex

    private struct Line: Sendable {
        let symbol: Range<Int>
        let module: Range<Int>
        let namespace: Range<Int>
        let crc: UInt32
        let gplOnly: Bool
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case badLine(file: String, line: Int, text: String)

        public var description: String {
            switch self {
            case .badLine(let file, let line, let text): return "\(file):\(line): not a Module.symvers line: \(text)"
            }
        }
    }

    public init(contentsOf url: URL) throws {
        try self.init(bytes: [UInt8](try Data(contentsOf: url)), file: url.path)
    }

    public init(text: String, file: String = "Module.symvers") throws {
        try self.init(bytes: Array(text.utf8), file: file)
    }

    private init(bytes: [UInt8], file: String) throws {
        text = bytes
        // One pass over the bytes without a per-line allocation: a vmlinux's file has 25k
        // lines, read by every build (the differ A/B's setup spent a fifth of its time here).
        let parsed: Result<[Line], ParseError> = bytes.withUnsafeBufferPointer { buffer in
            var lines: [Line] = []
            lines.reserveCapacity(buffer.count / 48)
            var start = 0, number = 0
            while start < buffer.count {
                var end = start
                while end < buffer.count && buffer[end] != UInt8(ascii: "\n") { end += 1 }
                number += 1
                if end > start {
                    guard let line = Self.parse(buffer, start..<end) else {
                        return .failure(.badLine(file: file, line: number, text: String(decoding: buffer[start..<end], as: UTF8.self)))
                    }
                    lines.append(line)
                }
                start = end + 1
            }
            return .success(lines)
        }
        let lines = try parsed.get()
        self.lines = lines
        index = ByteStringIndex(count: lines.count) { ByteStringIndex.hash(bytes[lines[$0].symbol]) }
    }

    /// The fields of one line, nil when it is not a Module.symvers line.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Line? {
        // Tab-separated: CRC, symbol, module, export type, and the namespace when there is one.
        var fields = (0..<0, 0..<0, 0..<0, 0..<0, range.upperBound..<range.upperBound)
        var count = 0, fieldStart = range.lowerBound
        for at in range.lowerBound...range.upperBound where at == range.upperBound || bytes[at] == UInt8(ascii: "\t") {
            switch count {
            case 0: fields.0 = fieldStart..<at
            case 1: fields.1 = fieldStart..<at
            case 2: fields.2 = fieldStart..<at
            case 3: fields.3 = fieldStart..<at
            case 4: fields.4 = fieldStart..<at
            default: break
            }
            count += 1
            fieldStart = at + 1
        }
        guard count >= 4, let crc = hexCRC(bytes[fields.0]), !fields.1.isEmpty,
              bytes[fields.3].starts(with: exportSymbol) else { return nil }
        return Line(symbol: fields.1, module: fields.2, namespace: count > 4 ? fields.4 : fields.2.upperBound..<fields.2.upperBound,
                    crc: crc, gplOnly: bytes[fields.3].reversed().starts(with: gplSuffix.reversed()))
    }

    private static let exportSymbol = Array("EXPORT_SYMBOL".utf8)
    private static let gplSuffix = Array("_GPL".utf8)

    /// `0x` and hexadecimal digits that fit 32 bits.
    private static func hexCRC(_ field: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        guard field.starts(with: [UInt8(ascii: "0"), UInt8(ascii: "x")]), field.count > 2 else { return nil }
        var value: UInt32 = 0
        for b in field.dropFirst(2) {
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: return nil
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 16)
            guard !overflow else { return nil }
            value = shifted | UInt32(digit)
        }
        return value
    }

    /// Exports listed (a symbol listed twice counts once per line).
    public var count: Int { lines.count }

    /// The exported symbols, in the file's order.
    public var symbols: [String] { lines.map { String(decoding: text[$0.symbol], as: UTF8.self) } }

    /// The export of `symbol` (the last line naming it), nil when nobody exports it.
    public func export(of symbol: String) -> Export? {
        let utf8 = Array(symbol.utf8)
        guard let last = index.lookup(hash: ByteStringIndex.hash(utf8), matches: { text[lines[$0].symbol].elementsEqual(utf8) }).last else {
            return nil
        }
        let line = lines[last]
        func string(_ r: Range<Int>) -> String { String(decoding: text[r], as: UTF8.self) }
        return Export(symbol: symbol, module: string(line.module), crc: line.crc, gplOnly: line.gplOnly, namespace: string(line.namespace))
    }

    /// True when vmlinux itself exports `symbol`.
    public func isExportedByVmlinux(_ symbol: String) -> Bool {
        export(of: symbol)?.module == "vmlinux"
    }

    /// The module that exports `symbol`, "vmlinux" for the kernel, nil when nobody does.
    /// In-tree modules are named by their path without `.ko` (`crypto/sha256_generic`).
    public func exporter(of symbol: String) -> String? { export(of: symbol)?.module }

    /// The module name the kernel (and a klp_object) uses for a Module.symvers module
    /// field: `crypto/sha256_generic` -> `sha256_generic`, `-` -> `_`.
    public static func livepatchName(_ module: String) -> String {
        String(module.split(separator: "/").last ?? Substring(module)).replacing("-", with: "_")
    }
}
