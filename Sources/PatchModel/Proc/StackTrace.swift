/// One frame of /proc/<pid>/stack: `[<0>] kpvictim_wait_release+0x5c/0x90 [kpvictim]`.
public struct StackFrame: Codable, Equatable, Sendable, CustomStringConvertible {
    public let function: String
    public let offset: UInt64
    public let size: UInt64
    /// The module holding the function; nil for vmlinux.
    public let module: String?

    public init(function: String, offset: UInt64, size: UInt64, module: String?) {
        self.function = function
        self.offset = offset
        self.size = size
        self.module = module
    }

    /// Parses one line; nil for lines that are not a symbolized frame.
    public init?(line: Substring) {
        var rest = line.drop { $0 == " " }
        if rest.hasPrefix("[<") {
            guard let end = rest.firstRange(of: ">] ") else { return nil }
            rest = rest[end.upperBound...]
        }
        var module: String?
        if rest.hasSuffix("]"), let open = rest.lastIndex(of: "[") {
            module = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)])
            rest = rest[..<open].dropLast(while: { $0 == " " })
        }
        guard let plus = rest.lastIndex(of: "+"), let slash = rest.lastIndex(of: "/"), plus < slash,
              let offset = UInt64(hex: rest[rest.index(after: plus)..<slash]),
              let size = UInt64(hex: rest[rest.index(after: slash)...]) else { return nil }
        let function = String(rest[..<plus])
        guard !function.isEmpty, !function.contains(" ") else { return nil }
        self.init(function: function, offset: offset, size: size, module: module)
    }

    public var description: String {
        let base = "\(function)+0x\(String(offset, radix: 16))/0x\(String(size, radix: 16))"
        return module.map { "\(base) [\($0)]" } ?? base
    }

    /// Parses the whole file.
    public static func parseStack(_ text: String) -> [StackFrame] {
        text.split(separator: "\n").compactMap { StackFrame(line: $0) }
    }
}

extension Substring {
    package func dropLast(while predicate: (Character) -> Bool) -> Substring {
        var s = self
        while let last = s.last, predicate(last) { s = s.dropLast() }
        return s
    }
}

extension UInt64 {
    package init?<S: StringProtocol>(hex: S) {
        let digits = hex.hasPrefix("0x") ? Substring(hex.dropFirst(2)) : Substring(hex)
        guard let value = UInt64(digits, radix: 16) else { return nil }
        self = value
    }
}
