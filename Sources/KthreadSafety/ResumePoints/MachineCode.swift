import PatchModel

/// One x86-64 instruction of a function, as far as control flow goes.
public struct Instruction: Equatable, Sendable {
    public enum Flow: Equatable, Sendable {
        /// Continues with the next instruction (calls included: they return).
        case next
        /// Always jumps to the target.
        case jump(UInt64)
        /// Jumps to the target or continues.
        case branch(UInt64)
        /// Never continues here: return, or padding after a return or jump.
        case stop
        /// Jumps somewhere the code does not say (an indirect jump).
        case unknown
    }

    public var address: UInt64
    /// The address of the next instruction.
    public var end: UInt64
    public var flow: Flow
    public var isCall: Bool

    public init(address: UInt64, end: UInt64, flow: Flow, isCall: Bool) {
        self.address = address
        self.end = end
        self.flow = flow
        self.isCall = isCall
    }
}

/// Reads `objdump -d --no-show-raw-insn` output into instructions. Only the
/// mnemonic and a direct target matter. With retbleed mitigations the kernel
/// returns through `jmp __x86_return_thunk` and jumps indirectly through
/// `jmp __x86_indirect_thunk_REG`; both are recognized by name.
public enum ObjdumpListing {
    public static func instructions(_ text: String, rangeEnd: UInt64) -> [Instruction] {
        var decoded: [(address: UInt64, flow: Instruction.Flow, isCall: Bool)] = []
        for line in text.split(separator: "\n") {
            // "ffffffff811a5487:\tcall   ffffffff81a58750 <schedule_timeout_interruptible>"
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2, fields[0].hasSuffix(":"),
                  let address = UInt64(fields[0].dropLast().trimmingCharacters(in: [" "]), radix: 16) else { continue }
            let instruction = fields[1...].joined(separator: " ").trimmingCharacters(in: [" "])
            guard !instruction.isEmpty else { continue }
            decoded.append((address, flow(of: instruction), isCall(instruction)))
        }
        return decoded.indices.map { i in
            Instruction(address: decoded[i].address, end: i + 1 < decoded.count ? decoded[i + 1].address : rangeEnd,
                        flow: decoded[i].flow, isCall: decoded[i].isCall)
        }
    }

    private static func words(_ instruction: String) -> [Substring] {
        instruction.split(whereSeparator: { $0 == " " || $0 == "," })
    }

    private static func isCall(_ instruction: String) -> Bool {
        words(instruction).first.map { $0 == "call" || $0 == "callq" } ?? false
    }

    static func flow(of instruction: String) -> Instruction.Flow {
        let parts = words(instruction)
        // Prefixes ("notrack jmp *%rax", "bnd jmp", "rep ret", "cs call") do not change the flow.
        let mnemonicIndex = parts.firstIndex { !["notrack", "bnd", "rep", "repz", "cs", "ds", "lock"].contains($0) } ?? 0
        guard mnemonicIndex < parts.count else { return .next }
        let mnemonic = parts[mnemonicIndex]
        let operand = parts.dropFirst(mnemonicIndex + 1).first
        let symbol = instruction.firstRange(of: "<").map { String(instruction[$0.upperBound...].prefix { $0 != ">" && $0 != "+" }) }
        switch mnemonic {
        case "ret", "retq", "retl", "int3":
            return .stop
        case "(bad)":
            return .unknown
        case "jmp", "jmpq":
            if symbol == "__x86_return_thunk" { return .stop }
            if symbol?.hasPrefix("__x86_indirect_thunk") == true || operand?.hasPrefix("*") == true { return .unknown }
            return target(operand).map { .jump($0) } ?? .unknown
        default:
            if mnemonic.hasPrefix("j") || mnemonic.hasPrefix("loop") {
                return target(operand).map { .branch($0) } ?? .unknown
            }
            return .next
        }
    }

    private static func target(_ operand: Substring?) -> UInt64? {
        guard var text = operand else { return nil }
        if text.hasPrefix("0x") { text = text.dropFirst(2) }
        return UInt64(text, radix: 16)
    }
}

/// The instruction-level control flow of one function (all its address ranges,
/// hot and cold), with the edges the instructions do not show: static-branch
/// targets (`__jump_table`), exception fixups (`__ex_table`), and the
/// fall-through past an alternative that may be patched to NOPs.
public struct ControlFlow: Sendable {
    public private(set) var instructions: [Instruction]
    /// The function's address ranges: a target outside them is another function.
    public let ranges: [Range<UInt64>]
    private var index: [UInt64: Int] = [:]
    private var extraEdges: [UInt64: [UInt64]] = [:]

    public init(instructions: [Instruction], ranges: [Range<UInt64>], extraEdges: [(from: UInt64, to: UInt64)] = []) {
        self.instructions = instructions.sorted { $0.address < $1.address }
        self.ranges = ranges
        for (i, instruction) in self.instructions.enumerated() { index[instruction.address] = i }
        for edge in extraEdges { self.extraEdges[edge.from, default: []].append(edge.to) }
    }

    /// The addresses of the instructions that can run after `start`, `start`
    /// included; nil when the flow is not known (an indirect jump, or a target
    /// inside the function that is not an instruction start). A target outside
    /// the function is a tail call: it does not come back.
    public func reachable(from start: UInt64) -> Set<UInt64>? {
        guard index[start] != nil else { return nil }
        var seen: Set<UInt64> = [start]
        var work = [start]
        while let address = work.popLast() {
            let instruction = instructions[index[address]!]
            var successors = extraEdges[address] ?? []
            switch instruction.flow {
            case .next: successors.append(instruction.end)
            case .jump(let target): successors.append(target)
            case .branch(let target): successors += [target, instruction.end]
            case .stop: break
            case .unknown: return nil
            }
            for successor in successors {
                guard index[successor] != nil else {
                    if ranges.contains(where: { $0.contains(successor) }) { return nil }
                    continue
                }
                if seen.insert(successor).inserted { work.append(successor) }
            }
        }
        return seen
    }
}
