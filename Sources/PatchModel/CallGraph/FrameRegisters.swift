/// Which registers hold an address in the function's own stack frame (from `lea off(%rsp)`, a copy of %rsp,
/// arithmetic on such an address, a load of a slot holding one), and where they may point. With it, a memory
/// access through a register is known to touch the frame or not, so an object in the frame can be followed like
/// a register: docs/KTHREAD-SAFETY.md, "Frame objects".
struct FrameRegisters: Equatable {
    /// Registers (not %rsp) that may hold a frame address.
    var held: X86Instruction.Registers = 0
    /// Of those, the ones whose address is known to lie in a range of offsets from %rsp at depth 0 (one offset:
    /// a range of one); absent: anywhere in the frame.
    var targets: [Int: Range<Int64>] = [:]
    /// Frame bytes that may hold frame addresses: an on-stack list head pointing to itself, a spilled pointer,
    /// an object a callee was given (it may have linked it to itself).
    var spilled: Set<Spill> = []

    struct Spill: Hashable {
        /// The bytes that may hold an address.
        var bytes: Range<Int64>
        /// Where it may point; nil: anywhere in the frame.
        var targets: Range<Int64>?
    }

    /// Offsets covering the whole frame and what lies above it (an object whose size is not known).
    static let everywhere: Range<Int64> = Int64.min / 4 ..< Int64.max / 4

    /// What a memory operand touches of the frame (offsets from %rsp at depth 0): exactly these bytes, some of
    /// these bytes, somewhere in it, or nothing of it.
    enum Access: Equatable {
        case bytes(Range<Int64>)
        case within(Range<Int64>)
        case anywhere
        case outside
    }

    /// Where the frame address a register holds may point (`rsp`: at `depth`); nil when it holds none;
    /// `.some(nil)`: anywhere in the frame.
    func address(in register: Int, depth: Int64?) -> Range<Int64>?? {
        if register == X86Instruction.rsp { return .some(depth.map { $0 ..< $0 + 1 }) }
        guard held & X86Instruction.bit(register) != 0 else { return nil }
        return .some(targets[register])
    }

    /// Where `memory` points, with %rsp at `depth` (nil: not known) and `width` bytes accessed.
    func access(_ memory: X86Instruction.Memory, depth: Int64?, width: Int) -> Access {
        guard memory.segment == nil, !memory.ripRelative else { return .outside }
        let base = memory.base.flatMap { address(in: $0, depth: depth) }
        let index = memory.index.flatMap { address(in: $0, depth: depth) }
        if index != nil { return .anywhere }
        guard let base else { return .outside }
        guard let range = base, memory.index == nil, range.count < Self.everywhere.count / 2 else { return .anywhere }
        let first = range.lowerBound + memory.displacement
        if range.count == 1 { return .bytes(first ..< first + Int64(width)) }
        return .within(first ..< range.upperBound - 1 + memory.displacement + Int64(width))
    }

    /// The smallest range holding both (nil, anywhere, absorbs).
    private static func hull(_ a: Range<Int64>?, _ b: Range<Int64>?) -> Range<Int64>? {
        guard let a, let b else { return nil }
        return min(a.lowerBound, b.lowerBound) ..< max(a.upperBound, b.upperBound)
    }

    /// After an instruction that falls through, with %rsp at `depth` before it: a `lea` or a copy of a frame
    /// address keeps where it points; a value computed from one is a frame address that may point anywhere; a
    /// load of a slot that may hold one may point where that does; anything else written is none. A frame address
    /// stored in the frame is followed there; stored anywhere else, it escapes: false.
    mutating func step(_ instruction: X86Instruction, depth: Int64?) -> Bool {
        let rsp = X86Instruction.bit(X86Instruction.rsp)
        let memory = instruction.memory
        let touched = memory.map { access($0, depth: depth, width: $0.width ?? 8) } ?? .outside
        // Stores (and pushes): where a frame address goes; other data written over a spill replaces it.
        let pushed: Range<Int64>? = (instruction.stackDelta ?? 0) < 0 ? depth.map { $0 + instruction.stackDelta! ..< $0 } : nil
        if memory?.isStore == true || (instruction.stackDelta ?? 0) < 0 {
            let target: Access = memory?.isStore == true ? touched : pushed.map { .bytes($0) } ?? .anywhere
            if let stored = storedFrameAddress(instruction, depth: depth) {
                switch target {
                case .bytes(let bytes), .within(let bytes): spilled.insert(Spill(bytes: bytes, targets: stored))
                case .anywhere, .outside: return false
                }
            } else if case .bytes(let bytes) = target, memory?.width == 8 || pushed != nil {
                spilled = spilled.filter { !(bytes.lowerBound <= $0.bytes.lowerBound && $0.bytes.upperBound <= bytes.upperBound) }
            }
        }
        // Loads (and pops) of bytes that may hold a frame address. (A load narrower than a pointer loads none.)
        var loaded: Range<Int64>?? = nil
        if !spilled.isEmpty {
            func spills(in bytes: Range<Int64>?) -> Range<Int64>?? {
                let found = spilled.filter { bytes.map($0.bytes.overlaps) ?? true }
                guard let first = found.first else { return nil }
                return .some(found.dropFirst().reduce(first.targets) { Self.hull($0, $1.targets) })
            }
            if memory?.isLoad == true, (memory?.width ?? 8) >= 8 {
                switch touched {
                case .bytes(let bytes), .within(let bytes): loaded = spills(in: bytes)
                case .anywhere: loaded = spills(in: nil)
                case .outside: break
                }
            }
            if instruction.pops, let depth, let popped = spills(in: depth ..< depth + 8) {
                loaded = .some(loaded.map { Self.hull($0, popped) } ?? popped)
            }
        }
        let written = (instruction.writes | instruction.partialWrites) & ~rsp
        guard written != 0 else { return true }
        var target: Range<Int64>?? = nil
        if let lea = instruction.address {
            switch access(lea, depth: depth, width: 1) {
            case .bytes(let range): target = .some(range)
            case .within(let range): target = .some(range)
            case .anywhere: target = .some(nil)
            case .outside: target = nil
            }
        } else if let move = instruction.registerMove {
            target = address(in: move.from, depth: depth)
        } else if valueSources(of: instruction) != 0 {
            target = .some(nil)
        } else if let loaded {
            target = .some(loaded)
        }
        for register in 0..<16 where written & X86Instruction.bit(register) != 0 {
            let full = instruction.writes & X86Instruction.bit(register) != 0
            if let target {
                held |= X86Instruction.bit(register)
                targets[register] = full ? target : nil
            } else if full {
                held &= ~X86Instruction.bit(register)
                targets[register] = nil
            } else {
                targets[register] = nil // part of the old address survives
            }
        }
        return true
    }

    /// The frame-holding registers (and %rsp) whose value the instruction computes with: what it reads, less the
    /// registers only used to address memory (a load's result is data, not their address).
    func valueSources(of instruction: X86Instruction) -> X86Instruction.Registers {
        // A string instruction's pointers move on from where they were.
        (instruction.advancesPointers ? instruction.reads : instruction.dataReads) & (held | X86Instruction.bit(X86Instruction.rsp))
    }

    /// Where the frame address a store (or push) writes may point: nil when it stores none; `.some(nil)`: anywhere.
    private func storedFrameAddress(_ instruction: X86Instruction, depth: Int64?) -> Range<Int64>?? {
        let data = instruction.dataReads & (held | X86Instruction.bit(X86Instruction.rsp))
        let registers = (0..<16).filter { data & X86Instruction.bit($0) != 0 }
        guard let first = registers.first else { return nil }
        return .some(registers.reduce(address(in: first, depth: depth) ?? nil) { Self.hull($0, address(in: $1, depth: depth) ?? nil) })
    }

    /// After a call taking `arguments`: the callee-saved registers keep their addresses; the result registers
    /// hold a frame address when an argument was one and the result can be an address (`memset` returns its
    /// first); and each object it was given may now hold the addresses it was given (`INIT_LIST_HEAD(&head)`,
    /// `list_add(&a, &b)`).
    mutating func afterCall(arguments: CallArguments) {
        let given = passed(in: arguments.registerMask).map { register, range -> (bytes: Range<Int64>, types: PointeeTypes) in
            let index = X86Instruction.argumentRegisters.firstIndex(of: register) ?? 0
            guard let range else { return (Self.everywhere, .anything) }
            guard let size = arguments.pointeeSize(ofArgument: index) else {
                return (range.lowerBound ..< Self.everywhere.upperBound, arguments.pointee(ofArgument: index))
            }
            return (range.lowerBound ..< range.upperBound - 1 + Int64(size), arguments.pointee(ofArgument: index))
        }
        held &= ~X86Instruction.callerSaved
        for register in targets.keys where held & X86Instruction.bit(register) == 0 { targets[register] = nil }
        func reach(_ objects: [(bytes: Range<Int64>, types: PointeeTypes)]) -> Range<Int64>?? {
            guard let first = objects.first else { return nil }
            let hull = objects.dropFirst().reduce(first.bytes) { Self.hull($0, $1.bytes)! }
            return .some(hull.count >= Self.everywhere.count / 2 ? nil : hull)
        }
        // Each object may now hold the address of any object given whose type its pointers can point to.
        for object in given {
            guard let addresses = reach(given.filter { object.types.canHold(addressOf: $0.types) }) else { continue }
            spilled.insert(Spill(bytes: object.bytes, targets: addresses))
        }
        guard arguments.returnsAddress, let addresses = reach(given) else { return }
        for register in [X86Instruction.rax, X86Instruction.rdx] {
            held |= X86Instruction.bit(register)
            targets[register] = addresses
        }
    }

    /// The argument registers among `arguments` holding frame addresses, with where they may point (nil: anywhere).
    func passed(in arguments: X86Instruction.Registers) -> [(register: Int, range: Range<Int64>?)] {
        (0..<16).filter { held & arguments & X86Instruction.bit($0) != 0 }.map { ($0, targets[$0]) }
    }

    func contains(_ other: FrameRegisters) -> Bool {
        guard held | other.held == held, spilled.isSuperset(of: other.spilled) else { return false }
        return other.held == 0 || (0..<16).allSatisfy { register in
            guard other.held & X86Instruction.bit(register) != 0 else { return true }
            guard let mine = targets[register] else { return true }
            guard let theirs = other.targets[register] else { return false }
            return mine.lowerBound <= theirs.lowerBound && theirs.upperBound <= mine.upperBound
        }
    }

    mutating func formUnion(_ other: FrameRegisters) {
        for register in 0..<16 where (held | other.held) & X86Instruction.bit(register) != 0 {
            let mine = held & X86Instruction.bit(register) != 0 ? targets[register] : other.targets[register]
            let theirs = other.held & X86Instruction.bit(register) != 0 ? other.targets[register] : mine
            targets[register] = Self.hull(mine, theirs)
        }
        held |= other.held
        spilled.formUnion(other.spilled)
    }

    /// The same registers, with offsets counted from a %rsp `delta` bytes higher (`offset - delta`).
    func rebased(by delta: Int64) -> FrameRegisters {
        func shift(_ range: Range<Int64>) -> Range<Int64> {
            range.count >= Self.everywhere.count / 2 ? range : range.lowerBound - delta ..< range.upperBound - delta
        }
        return FrameRegisters(held: held, targets: targets.mapValues(shift),
                              spilled: Set(spilled.map { Spill(bytes: shift($0.bytes), targets: $0.targets.map(shift)) }))
    }
}
