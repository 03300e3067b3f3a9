import CElf
import PatchModel

/// Where one function's code is and where, in it, each of its calls and
/// inlined bodies sits: what it takes to say which calls can still run from a
/// point in the function (`KthreadResumePoints`).
public struct FunctionLayout: Equatable, Sendable {
    /// A function the code calls or inlines: the first hop of a call path.
    public struct Hop: Equatable, Sendable {
        public var name: String
        /// A call's return address (DW_AT_call_return_pc), when the DWARF gives one.
        public var returnAddress: UInt64?
        /// An inlined body's address ranges.
        public var ranges: [Range<UInt64>]
        /// A call made inside an inlined body (not by the function's own code).
        public var inInlinedBody = false
    }

    public var name: String
    public var entry: UInt64
    /// Hot and cold parts (DW_AT_ranges), in the file's addresses.
    public var ranges: [Range<UInt64>]
    /// Calls made by the function's code, and bodies inlined into it. A call
    /// made inside an inlined body (at any depth) is a hop too: the function's
    /// frame makes it, and the value flow attributes it to that frame.
    public var hops: [Hop]
}

/// Reads function layouts and the kernel's hidden control-flow edges from a
/// linked file with DWARF (the debug vmlinux).
public final class FunctionLayoutReader {
    private let file: DwarfFile
    private var hiddenEdgeTable: [(from: UInt64, to: UInt64)]?

    public init(path: String) throws {
        file = try DwarfFile(path: path)
    }

    /// The layout of the function whose entry is at `address`, or nil when the DWARF has no such function.
    public func layout(at address: UInt64) -> FunctionLayout? {
        var unit = Dwarf_Die()
        guard dwarf_addrdie(file.dwarf, address, &unit) != nil else { return nil }
        var die = Dwarf_Die()
        guard dwarf_child(&unit, &die) == 0 else { return nil }
        repeat {
            guard dwarf_tag(&die) == DwarfTag.subprogram, dwarf_hasattr(&die, DwarfAttribute.declaration) == 0 else { continue }
            guard DwarfFile.entryAddress(of: &die) == address else { continue }
            var hops: [FunctionLayout.Hop] = []
            collectHops(in: &die, into: &hops)
            let name = dwarf_diename(&die).map { String(cString: $0) } ?? ""
            return FunctionLayout(name: name, entry: address, ranges: Self.ranges(of: &die), hops: hops)
        } while DwarfFile.nextSibling(&die)
        return nil
    }

    /// `inlined`: inside an inlined body, where only calls are hops (a body inlined into it is reached through it).
    private func collectHops(in parent: inout Dwarf_Die, into hops: inout [FunctionLayout.Hop], inlined: Bool = false) {
        var die = Dwarf_Die()
        guard dwarf_child(&parent, &die) == 0 else { return }
        repeat {
            switch dwarf_tag(&die) {
            case DwarfTag.lexicalBlock:
                collectHops(in: &die, into: &hops, inlined: inlined)
            case DwarfTag.inlinedSubroutine:
                if !inlined, let name = Self.originName(of: &die, DwarfAttribute.abstractOrigin) {
                    hops.append(.init(name: name, returnAddress: nil, ranges: Self.ranges(of: &die)))
                }
                collectHops(in: &die, into: &hops, inlined: true)
            case DwarfTag.callSite, DwarfTag.gnuCallSite:
                guard let name = Self.originName(of: &die, DwarfAttribute.callOrigin)
                        ?? Self.originName(of: &die, DwarfAttribute.abstractOrigin) else { break }
                var attr = Dwarf_Attribute()
                var pc: Dwarf_Addr = 0
                let returnAddress = dwarf_attr(&die, DwarfAttribute.callReturnPC, &attr) != nil && dwarf_formaddr(&attr, &pc) == 0 ? pc : nil
                hops.append(.init(name: name, returnAddress: returnAddress, ranges: [], inInlinedBody: inlined))
            default:
                break
            }
        } while DwarfFile.nextSibling(&die)
    }

    private static func originName(of die: inout Dwarf_Die, _ attribute: UInt32) -> String? {
        var attr = Dwarf_Attribute()
        var target = Dwarf_Die()
        guard dwarf_attr(&die, attribute, &attr) != nil, dwarf_formref_die(&attr, &target) != nil,
              let name = dwarf_diename(&target) else { return nil }
        return String(cString: name)
    }

    private static func ranges(of die: inout Dwarf_Die) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        var base: Dwarf_Addr = 0, start: Dwarf_Addr = 0, end: Dwarf_Addr = 0
        var offset = dwarf_ranges(&die, 0, &base, &start, &end)
        while offset > 0 {
            if start < end { result.append(start..<end) }
            offset = dwarf_ranges(&die, offset, &base, &start, &end)
        }
        return result
    }

    /// Edges the instructions of `ranges` do not show: static-branch targets,
    /// exception fixups, and the fall-through past each alternative.
    public func hiddenEdges(in ranges: [Range<UInt64>]) throws -> [(from: UInt64, to: UInt64)] {
        let table = try hiddenEdgeTable ?? KernelCodeTables(file: file).edges()
        hiddenEdgeTable = table
        return table.filter { edge in ranges.contains { $0.contains(edge.from) } }
    }
}
