import FoundationEssentials

/// The exported-symbol list Kbuild writes (`Module.symvers`): one line per
/// symbol, `0xCRC<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace`.
public struct ModuleSymvers: Sendable {
    public struct Export: Hashable, Sendable {
        public let symbol: String
        public let module: String
        public let crc: UInt32
        public let gplOnly: Bool
        public let namespace: String
    }

    public let exports: [String: Export]

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case badLine(file: String, line: Int, text: String)

        public var description: String {
            switch self {
            case .badLine(let file, let line, let text): return "\(file):\(line): not a Module.symvers line: \(text)"
            }
        }
    }

    public init(exports: [Export]) {
        var map: [String: Export] = [:]
        for e in exports { map[e.symbol] = e }
        self.exports = map
    }

    public init(contentsOf url: URL) throws {
        try self.init(text: String(decoding: try Data(contentsOf: url), as: UTF8.self), file: url.path)
    }

    public init(text: String, file: String = "Module.symvers") throws {
        var list: [Export] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 4, fields[0].hasPrefix("0x"), let crc = UInt32(fields[0].dropFirst(2), radix: 16),
                  !fields[1].isEmpty, fields[3].hasPrefix("EXPORT_SYMBOL") else {
                throw ParseError.badLine(file: file, line: number + 1, text: String(line))
            }
            list.append(Export(symbol: String(fields[1]), module: String(fields[2]), crc: crc,
                               gplOnly: fields[3].hasSuffix("_GPL"), namespace: fields.count > 4 ? String(fields[4]) : ""))
        }
        self.init(exports: list)
    }

    /// True when vmlinux itself exports `symbol`.
    public func isExportedByVmlinux(_ symbol: String) -> Bool {
        exports[symbol]?.module == "vmlinux"
    }

    /// The module that exports `symbol`, "vmlinux" for the kernel, nil when nobody does.
    /// In-tree modules are named by their path without `.ko` (`crypto/sha256_generic`).
    public func exporter(of symbol: String) -> String? { exports[symbol]?.module }

    /// The module name the kernel (and a klp_object) uses for a Module.symvers module
    /// field: `crypto/sha256_generic` -> `sha256_generic`, `-` -> `_`.
    public static func livepatchName(_ module: String) -> String {
        String(module.split(separator: "/").last ?? Substring(module)).replacing("-", with: "_")
    }
}
