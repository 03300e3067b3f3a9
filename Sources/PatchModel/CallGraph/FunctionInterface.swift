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
    /// Returns a value, or takes a writable pointer, a function pointer or variable arguments.
    case passesValuesBack = 2

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The caution the safety rules apply: only a known `passesNothingBack` is trusted.
    public var mayPassValuesBack: Bool { self != .passesNothingBack }

    public var description: String {
        switch self {
        case .unknown: return "prototype unknown"
        case .passesNothingBack: return "returns nothing and takes no writable pointer"
        case .passesValuesBack: return "returns a value or takes a writable pointer"
        }
    }
}

/// Classifies subprogram DIEs; memoizes type verdicts by DIE offset (one reader per DWARF file).
final class FunctionInterfaceReader {
    private var readOnlyByType: [Dwarf_Off: Bool] = [:]

    func interface(of subprogram: inout Dwarf_Die) -> FunctionInterface {
        var attr = Dwarf_Attribute()
        // A return type (followed through DW_AT_abstract_origin/specification) means a value comes back.
        if dwarf_attr_integrate(&subprogram, DwarfAttribute.type, &attr) != nil { return .passesValuesBack }
        // An out-of-line copy of an inline function lists its parameters under its abstract origin.
        var prototype = subprogram
        var origin = Dwarf_Die()
        if dwarf_attr(&subprogram, DwarfAttribute.abstractOrigin, &attr) != nil, dwarf_formref_die(&attr, &origin) != nil {
            prototype = origin
        }
        var child = Dwarf_Die()
        guard dwarf_child(&prototype, &child) == 0 else { return .passesNothingBack }
        repeat {
            switch dwarf_tag(&child) {
            case DwarfTag.formalParameter:
                guard let type = typeDie(of: &child), isReadOnlyValue(type) else { return .passesValuesBack }
            case DwarfTag.unspecifiedParameters:
                return .passesValuesBack
            default:
                break
            }
        } while DwarfFile.nextSibling(&child)
        return .passesNothingBack
    }

    /// The DIE of a DIE's DW_AT_type: `.some(nil)` for void (no attribute), nil when the reference is broken.
    private func typeDie(of die: inout Dwarf_Die) -> Dwarf_Die?? {
        var attr = Dwarf_Attribute()
        guard dwarf_attr_integrate(&die, DwarfAttribute.type, &attr) != nil else { return .some(nil) }
        var type = Dwarf_Die()
        guard dwarf_formref_die(&attr, &type) != nil else { return nil }
        return .some(type)
    }

    /// Whether a value of this type (nil: void) gives no way to write memory:
    /// scalars, enums, and pointers to const data that is itself read-only.
    private func isReadOnlyValue(_ type: Dwarf_Die?) -> Bool {
        guard var type else { return true }
        let offset = dwarf_dieoffset(&type)
        if let known = readOnlyByType[offset] { return known }
        // A recursive structure (a list node pointing to its own type) is decided by its other members.
        readOnlyByType[offset] = true
        let verdict = decideReadOnlyValue(&type)
        readOnlyByType[offset] = verdict
        return verdict
    }

    private func decideReadOnlyValue(_ type: inout Dwarf_Die) -> Bool {
        switch dwarf_tag(&type) {
        case DwarfTag.baseType, DwarfTag.enumerationType:
            return true
        case DwarfTag.typedef, DwarfTag.constType, DwarfTag.volatileType, DwarfTag.restrictType, DwarfTag.atomicType:
            guard let inner = typeDie(of: &type) else { return false }
            return isReadOnlyValue(inner)
        case DwarfTag.pointerType:
            guard let pointee = typeDie(of: &type) else { return false }
            guard var pointee else { return false } // void *: writable
            return isConstQualified(&pointee) && isReadOnlyValue(pointee)
        case DwarfTag.arrayType:
            guard let element = typeDie(of: &type) else { return false }
            return isReadOnlyValue(element)
        case DwarfTag.structureType, DwarfTag.unionType:
            var member = Dwarf_Die()
            guard dwarf_child(&type, &member) == 0 else { return true }
            repeat {
                guard dwarf_tag(&member) == DwarfTag.member else { continue }
                guard let memberType = typeDie(of: &member), isReadOnlyValue(memberType) else { return false }
            } while DwarfFile.nextSibling(&member)
            return true
        default:
            // Function types (a callback can do anything), and anything not understood.
            return false
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
