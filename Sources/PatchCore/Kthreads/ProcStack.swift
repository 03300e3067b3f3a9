/// One frame of `/proc/PID/stack`: `[<0>] worker_thread+0x2a0/0x3f0 [module]`.
public struct StackFrame: Equatable, Codable, Sendable, CustomStringConvertible {
    /// The symbol as printed (`foo`, or a GCC clone such as `foo.isra.0`).
    public var symbol: String
    public var offset: UInt64?
    public var size: UInt64?
    /// The module owning the function, nil for vmlinux.
    public var module: String?

    public init(symbol: String, offset: UInt64? = nil, size: UInt64? = nil, module: String? = nil) {
        self.symbol = symbol
        self.offset = offset
        self.size = size
        self.module = module
    }

    /// The source function's name: a clone suffix such as `.isra.0` removed.
    public var function: String { FunctionRef.baseName(symbol) }

    public var description: String { module.map { "\(symbol) [\($0)]" } ?? symbol }
}

public enum ProcStack {
    /// Frames innermost first. Lines that are not frames (an unreadable stack
    /// prints nothing) are skipped.
    public static func parse(_ text: String) -> [StackFrame] {
        text.split(separator: "\n").compactMap { line in
            var rest = Substring(line)
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { rest = rest[rest.index(after: close)...] }
            let words = rest.split(separator: " ", omittingEmptySubsequences: true)
            guard let location = words.first else { return nil }
            var module: String?
            if words.count > 1, words[1].hasPrefix("["), words[1].hasSuffix("]") {
                module = String(words[1].dropFirst().dropLast())
            }
            let parts = location.split(separator: "+", maxSplits: 1)
            let symbol = String(parts[0])
            guard !symbol.isEmpty else { return nil }
            var offset: UInt64?, size: UInt64?
            if parts.count == 2 {
                let numbers = parts[1].split(separator: "/")
                offset = numbers.first.flatMap { hex($0) }
                size = numbers.count > 1 ? hex(numbers[1]) : nil
            }
            return StackFrame(symbol: symbol, offset: offset, size: size, module: module)
        }
    }

    /// The kthread's thread function: the frame `kthread()` called. kthreadd
    /// itself is started by `ret_from_fork` without `kthread`. Nil when the stack
    /// does not show it (unreadable, or the task was running when read).
    public static func threadFunction(of frames: [StackFrame]) -> String? {
        let anchor = frames.firstIndex { $0.function == "kthread" } ?? frames.firstIndex { $0.function == "ret_from_fork" }
        guard let anchor, anchor > 0 else { return nil }
        return frames[anchor - 1].function
    }

    private static func hex(_ text: Substring) -> UInt64? {
        UInt64(text.hasPrefix("0x") ? text.dropFirst(2) : text, radix: 16)
    }
}
