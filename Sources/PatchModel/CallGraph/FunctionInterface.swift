import CElf

/// Whether a function can hand a value back to its caller, read from its DWARF
/// prototype. A function that returns nothing and whose parameters cannot be
/// written through (values, or pointers to const data that holds no writable
/// pointer) changes only data its caller does not hold: what a kthread's loop
/// keeps in its frames cannot come from it (docs/KTHREAD-SAFETY.md).
/// Ordered so that merging two records of one function keeps the cautious one.
public enum FunctionInterface: UInt8, Codable, Sendable, Comparable, CustomStringConvertible {
    /// No definition seen (declared only, or defined outside the file).
    case unknown = 0
    /// Returns void; every parameter is a value or a pointer to const, pointer-free data.
    case passesNothingBack = 1
    /// Returns a value, or takes a writable pointer, an integer as wide as a pointer (it may be an
    /// address), a function pointer or variable arguments.
    case passesValuesBack = 2
    /// Returns void and takes no writable pointer, but uses the running task (`current`,
    /// inlined `get_current()`): what it writes there (`current->blocked`, `current->flags`,
    /// ...) the calling kthread reads, whatever the functions between them return. The
    /// DWARF does not tell the reads from the writes.
    case usesCurrentTask = 3

    /// Caution order, for merging: a prototype that passes values outranks the use of `current`,
    /// which outranks a prototype passing nothing back.
    private var rank: Int {
        switch self {
        case .unknown: return 0
        case .passesNothingBack: return 1
        case .usesCurrentTask: return 2
        case .passesValuesBack: return 3
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

    /// Whether a value can come back to the caller through the prototype: only a
    /// known void function without writable parameters is trusted, whether or not
    /// it uses `current` (a replaced function that does is searched on its own scope).
    public var mayPassValuesBack: Bool { self != .passesNothingBack && self != .usesCurrentTask }

    /// Hands its effect to every caller above it, whatever the functions between them
    /// pass back: the state it changes is the calling task's own.
    public var changesCallingTask: Bool { self == .usesCurrentTask }

    public var description: String {
        switch self {
        case .unknown: return "prototype unknown"
        case .passesNothingBack: return "returns nothing and takes no writable pointer"
        case .passesValuesBack: return "returns a value or takes a writable pointer or a pointer-wide integer"
        case .usesCurrentTask: return "uses the running task (current)"
        }
    }
}

/// Classifies subprogram DIEs; memoizes type verdicts by DIE offset (one reader per DWARF file).
final class FunctionInterfaceReader {
    /// Final verdicts only: a verdict that leaned on a recursive type still being decided is not kept.
    private var readOnlyByType: [Dwarf_Off: Bool] = [:]
    /// Types being decided now (a recursive structure reaching itself), with their depth on the stack.
    private var deciding: [Dwarf_Off: Int] = [:]
    /// `pointerTargets` by type DIE.
    private var pointerTargetsByType: [Dwarf_Off: Set<String>?] = [:]

    /// What the prototype lets the function hand back, per channel: its result, and each argument
    /// register's parameter that can be written through.
    func signature(of subprogram: inout Dwarf_Die) -> FunctionSignature {
        var signature = FunctionSignature.nothing
        var attr = Dwarf_Attribute()
        // A return type (followed through DW_AT_abstract_origin/specification) means a value comes back.
        if dwarf_attr_integrate(&subprogram, DwarfAttribute.type, &attr) != nil { signature.rawValue |= 1 }
        // An out-of-line copy of an inline function lists its parameters under its abstract origin.
        var prototype = prototypeDie(of: &subprogram)
        var child = Dwarf_Die()
        guard dwarf_child(&prototype, &child) == 0 else { return signature }
        var index = 0
        repeat {
            switch dwarf_tag(&child) {
            case DwarfTag.formalParameter:
                defer { index += 1 }
                guard let type = typeDie(of: &child) else { signature.rawValue |= 0x80; continue }
                // A struct wider than a register moves the later arguments to other registers (or the stack).
                if var stripped = type.map(strippedType), [DwarfTag.structureType, DwarfTag.unionType].contains(dwarf_tag(&stripped)),
                   byteSize(&stripped) > 8 {
                    signature.rawValue |= 0x80
                }
                guard !isReadOnlyParameter(type) else { continue }
                signature.rawValue |= index < 6 ? 2 << UInt8(index) : 0x80
            case DwarfTag.unspecifiedParameters:
                signature.rawValue |= 0x80
            default:
                break
            }
        } while DwarfFile.nextSibling(&child)
        return signature
    }

    /// How a call of this function passes its arguments, from its prototype: the argument registers it reads,
    /// and the size of what each pointer parameter points to (what the callee may touch through it).
    func arguments(of subprogram: inout Dwarf_Die) -> CallArguments {
        var prototype = prototypeDie(of: &subprogram)
        var arguments = CallArguments(registers: 0, pointeeBytes: [], returnsAddress: returnsAddress(&subprogram),
                                      returnsBool: returnsBool(&subprogram))
        var child = Dwarf_Die()
        guard dwarf_child(&prototype, &child) == 0 else { return arguments }
        repeat {
            switch dwarf_tag(&child) {
            case DwarfTag.formalParameter:
                guard let type = typeDie(of: &child), let type else { return .unknown }
                var stripped = strippedType(type)
                let tag = dwarf_tag(&stripped)
                // A struct by value takes one register per 8 bytes up to 16, and none (the stack) beyond.
                if tag == DwarfTag.structureType || tag == DwarfTag.unionType {
                    let size = byteSize(&stripped)
                    guard size != .max else { return .unknown }
                    let registers = size > 16 ? 0 : Int((size + 7) / 8)
                    if size > 16 { arguments.stackArguments = true }
                    arguments.registers += registers
                    arguments.pointeeBytes += Array(repeating: nil, count: registers)
                    arguments.pointees += Array(repeating: .anything, count: registers)
                    continue
                }
                arguments.registers += 1
                arguments.pointeeBytes.append(tag == DwarfTag.pointerType ? pointeeSize(&stripped) : nil)
                arguments.pointees.append(tag == DwarfTag.pointerType ? pointee(&stripped) : .anything)
            case DwarfTag.unspecifiedParameters:
                return .unknown
            default:
                break
            }
        } while DwarfFile.nextSibling(&child)
        if arguments.registers > 6 { return .unknown }
        return arguments
    }

    /// The DIE listing a function's parameters: an out-of-line copy of an inline function lists them under its
    /// abstract origin.
    private func prototypeDie(of subprogram: inout Dwarf_Die) -> Dwarf_Die {
        var attr = Dwarf_Attribute()
        var origin = Dwarf_Die()
        guard dwarf_attr(&subprogram, DwarfAttribute.abstractOrigin, &attr) != nil, dwarf_formref_die(&attr, &origin) != nil
        else { return subprogram }
        return origin
    }

    /// Whether the function's result can be an address: a pointer, or an integer as wide as one (or not known).
    private func returnsAddress(_ subprogram: inout Dwarf_Die) -> Bool {
        guard let type = typeDie(of: &subprogram) else { return true }
        guard let type else { return false } // void
        var stripped = strippedType(type)
        switch dwarf_tag(&stripped) {
        case DwarfTag.baseType, DwarfTag.enumerationType: return byteSize(&stripped) >= 8
        default: return true
        }
    }

    /// Whether the function returns `bool` (`_Bool`: 0 or 1 in %al).
    private func returnsBool(_ subprogram: inout Dwarf_Die) -> Bool {
        guard let type = typeDie(of: &subprogram), let type else { return false }
        var stripped = strippedType(type)
        var attr = Dwarf_Attribute()
        var encoding: Dwarf_Word = 0
        guard dwarf_tag(&stripped) == DwarfTag.baseType, dwarf_attr(&stripped, DwarfAttribute.encoding, &attr) != nil,
              dwarf_formudata(&attr, &encoding) == 0 else { return false }
        return encoding == Dwarf_Word(DW_ATE_boolean)
    }

    /// What a pointer type points to, and what the pointers inside that can point to.
    private func pointee(_ pointer: inout Dwarf_Die) -> PointeeTypes {
        guard let pointee = typeDie(of: &pointer), let pointee else { return .anything }
        var stripped = strippedType(pointee)
        return PointeeTypes(type: typeKey(&stripped), holds: pointerTargets(&stripped, depth: 0))
    }

    /// A type's identity across compilation units: its tag and name (a struct has one DIE per unit that uses it);
    /// nil for an unnamed type.
    private func typeKey(_ type: inout Dwarf_Die) -> String? {
        if dwarf_tag(&type) == DwarfTag.pointerType {
            guard let target = typeDie(of: &type) else { return nil }
            guard let target else { return "void *" }
            var stripped = strippedType(target)
            return typeKey(&stripped).map { $0 + " *" }
        }
        guard let name = dwarf_diename(&type) else { return nil }
        return "\(dwarf_tag(&type)):" + String(cString: name)
    }

    /// What the pointers stored in a value of this type can point to, by type key, through embedded structures
    /// and arrays (not through the pointers); nil: anything (`void *`, an opaque or unnamed target, a type not
    /// understood).
    private func pointerTargets(_ type: inout Dwarf_Die, depth: Int) -> Set<String>? {
        let offset = dwarf_dieoffset(&type)
        if let known = pointerTargetsByType[offset] { return known }
        guard depth < 16 else { return nil }
        var found: Set<String>? = []
        switch dwarf_tag(&type) {
        case DwarfTag.baseType, DwarfTag.enumerationType, DwarfTag.subroutineType:
            break
        case DwarfTag.pointerType:
            if let target = typeDie(of: &type), let target {
                var stripped = strippedType(target)
                if dwarf_tag(&stripped) == DwarfTag.subroutineType { break } // a function pointer
                found = typeKey(&stripped).map { [$0] }
            } else {
                found = nil
            }
        case DwarfTag.typedef, DwarfTag.constType, DwarfTag.volatileType, DwarfTag.restrictType, DwarfTag.atomicType,
             DwarfTag.arrayType:
            guard let inner = typeDie(of: &type), var inner else { found = nil; break }
            found = pointerTargets(&inner, depth: depth + 1)
        case DwarfTag.structureType, DwarfTag.unionType:
            guard dwarf_hasattr(&type, DwarfAttribute.declaration) == 0 else { found = nil; break }
            var member = Dwarf_Die()
            guard dwarf_child(&type, &member) == 0 else { break }
            repeat {
                guard dwarf_tag(&member) == DwarfTag.member else { continue }
                guard let memberType = typeDie(of: &member), var memberType else { found = nil; break }
                guard let inner = pointerTargets(&memberType, depth: depth + 1) else { found = nil; break }
                found?.formUnion(inner)
            } while DwarfFile.nextSibling(&member)
        default:
            found = nil
        }
        pointerTargetsByType[offset] = found
        return found
    }

    /// The byte size of what a pointer type points to; nil for `void *` or a type without a size.
    private func pointeeSize(_ pointer: inout Dwarf_Die) -> UInt64? {
        guard let pointee = typeDie(of: &pointer), let pointee else { return nil }
        var stripped = strippedType(pointee)
        let size = byteSize(&stripped)
        return size == .max || size == 0 ? nil : size
    }

    /// The type behind typedefs and qualifiers.
    private func strippedType(_ type: Dwarf_Die) -> Dwarf_Die {
        var stripped = type
        for _ in 0..<16 {
            let tag = dwarf_tag(&stripped)
            guard tag == DwarfTag.typedef || tag == DwarfTag.constType || tag == DwarfTag.volatileType
                    || tag == DwarfTag.restrictType || tag == DwarfTag.atomicType,
                  let inner = typeDie(of: &stripped), let next = inner else { break }
            stripped = next
        }
        return stripped
    }

    /// The DIE of a DIE's DW_AT_type: `.some(nil)` for void (no attribute), nil when the reference is broken.
    private func typeDie(of die: inout Dwarf_Die) -> Dwarf_Die?? {
        var attr = Dwarf_Attribute()
        guard dwarf_attr_integrate(&die, DwarfAttribute.type, &attr) != nil else { return .some(nil) }
        var type = Dwarf_Die()
        guard dwarf_formref_die(&attr, &type) != nil else { return nil }
        return .some(type)
    }

    /// A parameter gives no way to write memory: a read-only value that is not
    /// an integer as wide as a pointer (`free_pages(unsigned long addr, ...)`
    /// takes an address as an integer; the prototype cannot tell which are).
    private func isReadOnlyParameter(_ type: Dwarf_Die?) -> Bool {
        guard let type else { return true }
        var stripped = strippedType(type)
        if dwarf_tag(&stripped) == DwarfTag.baseType, byteSize(&stripped) >= 8 { return false }
        return isReadOnlyValue(type)
    }

    private func byteSize(_ die: inout Dwarf_Die) -> UInt64 {
        var attr = Dwarf_Attribute()
        var size: Dwarf_Word = 0
        guard dwarf_attr(&die, DwarfAttribute.byteSize, &attr) != nil, dwarf_formudata(&attr, &size) == 0 else { return .max }
        return size
    }

    /// Whether a value of this type (nil: void) gives no way to write memory:
    /// scalars, enums, and pointers to const data that is itself read-only.
    private func isReadOnlyValue(_ type: Dwarf_Die?) -> Bool {
        guard var type else { return true }
        return readOnly(&type).verdict
    }

    /// The verdict, and the shallowest depth of a type still being decided that it
    /// assumed read-only (`Int.max`: none, the verdict is final).
    private func readOnly(_ type: inout Dwarf_Die) -> (verdict: Bool, assumes: Int) {
        let offset = dwarf_dieoffset(&type)
        if let known = readOnlyByType[offset] { return (known, .max) }
        // A recursive structure (a list node pointing to its own type) is decided by its other members:
        // while it is decided, reaching it again assumes it read-only.
        if let depth = deciding[offset] { return (true, depth) }
        let depth = deciding.count
        deciding[offset] = depth
        let result = decideReadOnlyValue(&type)
        deciding[offset] = nil
        // "Not read-only" is final whatever was assumed; "read-only" only when it assumed nothing about a type
        // outside itself (else the enclosing type may still turn out writable and the answer change).
        if !result.verdict || result.assumes >= depth {
            readOnlyByType[offset] = result.verdict
            return (result.verdict, .max)
        }
        return result
    }

    private func decideReadOnlyValue(_ type: inout Dwarf_Die) -> (verdict: Bool, assumes: Int) {
        switch dwarf_tag(&type) {
        case DwarfTag.baseType, DwarfTag.enumerationType:
            return (true, .max)
        case DwarfTag.typedef, DwarfTag.constType, DwarfTag.volatileType, DwarfTag.restrictType, DwarfTag.atomicType,
             DwarfTag.arrayType:
            guard let inner = typeDie(of: &type) else { return (false, .max) }
            guard var inner else { return (true, .max) }
            return readOnly(&inner)
        case DwarfTag.pointerType:
            guard let pointee = typeDie(of: &type) else { return (false, .max) }
            guard var pointee, isConstQualified(&pointee) else { return (false, .max) } // void *: writable
            return readOnly(&pointee)
        case DwarfTag.structureType, DwarfTag.unionType:
            // A declaration only (an opaque type: `struct foo;`) says nothing of its members: not read-only.
            guard dwarf_hasattr(&type, DwarfAttribute.declaration) == 0 else { return (false, .max) }
            var member = Dwarf_Die()
            guard dwarf_child(&type, &member) == 0 else { return (true, .max) }
            var assumes = Int.max
            repeat {
                guard dwarf_tag(&member) == DwarfTag.member else { continue }
                guard let memberType = typeDie(of: &member) else { return (false, .max) }
                guard var memberType else { continue }
                let result = readOnly(&memberType)
                guard result.verdict else { return (false, .max) }
                assumes = min(assumes, result.assumes)
            } while DwarfFile.nextSibling(&member)
            return (true, assumes)
        default:
            // Function types (a callback can do anything), and anything not understood.
            return (false, .max)
        }
    }

    /// `const T`, possibly behind typedefs and other qualifiers.
    private func isConstQualified(_ type: inout Dwarf_Die) -> Bool {
        var current = type
        for _ in 0..<16 {
            switch dwarf_tag(&current) {
            case DwarfTag.constType:
                return true
            case DwarfTag.typedef, DwarfTag.volatileType, DwarfTag.restrictType, DwarfTag.atomicType:
                guard let inner = typeDie(of: &current), let next = inner else { return false }
                current = next
            default:
                return false
            }
        }
        return false
    }
}

/// The argument registers a call passes, from the callee's prototype (`FunctionInterfaceReader.arguments(of:)`).
struct CallArguments: Equatable {
    /// How many of %rdi, %rsi, %rdx, %rcx, %r8, %r9 carry arguments.
    var registers: Int
    /// Per argument: the size of what it points to, when it is a pointer to a sized type.
    var pointeeBytes: [UInt64?]
    /// Its result can be an address (what it was given, as `memset` returns its first argument).
    var returnsAddress: Bool
    /// Its result is a `bool` (0 or 1 in %al).
    var returnsBool = false
    /// Some arguments are passed on the stack (more than six, a struct wider than 16 bytes, or not known).
    var stackArguments = false
    /// Per argument: the type it points to and what that can hold pointers to.
    var pointees: [PointeeTypes] = []

    /// Prototype not known (or variable arguments): all six registers and the stack, sizes unknown.
    static let unknown = CallArguments(registers: 6, pointeeBytes: Array(repeating: nil, count: 6), returnsAddress: true,
                                       stackArguments: true)
    /// A call the DWARF does not describe: GCC describes every call it makes, so this one is inline assembly
    /// (paravirt, static calls, alternatives), which takes its inputs in registers.
    static let inlineAssembly = CallArguments(registers: 6, pointeeBytes: Array(repeating: nil, count: 6), returnsAddress: true)

    func pointee(ofArgument index: Int) -> PointeeTypes { index < pointees.count ? pointees[index] : .anything }
    /// The argument registers, as a mask.
    var registerMask: X86Instruction.Registers {
        X86Instruction.argumentRegisters.prefix(registers).reduce(0) { $0 | X86Instruction.bit($1) }
    }

    func pointeeSize(ofArgument index: Int) -> UInt64? { index < pointeeBytes.count ? pointeeBytes[index] : nil }
}

/// A pointer parameter's target type (by `FunctionInterfaceReader`'s type key; nil: not known, `void *`), and the
/// types the pointers inside an object of it can point to (nil: anything). What a callee given several objects
/// can link into each: `INIT_LIST_HEAD(struct list_head *)` can store a `struct list_head` address in its object,
/// `page_counter_try_charge(..., struct page_counter **)` only a `struct page_counter` address.
struct PointeeTypes: Equatable {
    var type: String?
    var holds: Set<String>?

    static let anything = PointeeTypes(type: nil, holds: nil)

    /// Whether an object of this type can hold the address of an object of `other`.
    func canHold(addressOf other: PointeeTypes) -> Bool {
        guard let holds, let target = other.type else { return true }
        return holds.contains(target)
    }
}
