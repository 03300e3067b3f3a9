import CElf
import Synchronization

/// The call-site flows of a graph's edges, decoded on demand from the file the graph was read from and
/// memoised per call site. Building the graph records only where each call site's DIE is; the caller's code after
/// a call and the call-site parameters are read for the edges a value-flow search actually crosses (the
/// callers of the functions a replaced function's value comes into), a small part of a whole vmlinux.
/// libdw is not thread-safe within one session: every decode runs under the lock.
public final class CallSiteFlows: Sendable {
    /// The ELF file with the DWARF and code (the one the graph was read from).
    public let path: String
    private let state: Mutex<State>

    private struct State {
        let file: DwarfFile
        let reader: CallSiteFlowReader
        let interfaces = FunctionInterfaceReader()
        var bySite: [Int: Decoded] = [:]
        var subprograms: [Dwarf_Off: Subprogram] = [:]
        var signatureByDie: [Dwarf_Off: FunctionSignature] = [:]
    }

    /// A site's flow, where its frame stores what it keeps (nil: not all known), and the arguments it keeps in
    /// memory without following their loads (bits 0-5).
    struct Decoded {
        var flow: CallSiteFlow
        var stores: [UInt64]?
        var unfollowed: UInt8 = 0x3f
    }

    /// What a site's flow needs of the (outermost) subprogram its code is in.
    private struct Subprogram {
        var ranges: [(UInt64, UInt64)]
        var returnsValue: Bool
        var parameters: [Dwarf_Die]
    }

    /// A call site recorded as "keeps everything": the same callee is also inlined by the caller.
    public static let keepsEverythingSite: UInt64 = .max

    /// Opens the file now (a few section headers; nothing is decoded until an edge is asked for).
    public init(path: String) throws {
        self.path = path
        let file = try DwarfFile(path: path)
        state = Mutex(State(file: file, reader: CallSiteFlowReader(file: file)))
    }

    /// The flow of one call site (`site`: its index in the graph, `die`: its DIE offset, `subprogram`: the DIE offset
    /// of the outermost subprogram whose code makes it), memoised.
    func flow(ofSite site: Int, die: UInt64, subprogram: UInt64) -> Decoded {
        state.withLock { state in
            if let known = state.bySite[site] { return known }
            let decoded = Self.decode(site: die, subprogram: subprogram, file: state.file, reader: state.reader, state: &state)
            state.bySite[site] = decoded
            return decoded
        }
    }

    private static func decode(site: UInt64, subprogram: UInt64, file: DwarfFile, reader: CallSiteFlowReader,
                               state: inout State) -> Decoded {
        var die = Dwarf_Die()
        guard site != keepsEverythingSite, dwarf_offdie(file.dwarf, Dwarf_Off(site), &die) != nil else { return Decoded(flow: .keepsEverything) }
        // Only the channels the callee's prototype opens are followed (a void function taking values: none).
        let channels = declaredSignature(ofCallSite: &die, state: &state)
        if channels.passesNothingBack { return Decoded(flow: .keepsNothing, stores: [], unfollowed: 0) }
        guard var caller = self.subprogram(at: Dwarf_Off(subprogram), file: file, state: &state) else { return Decoded(flow: .keepsEverything) }
        if dwarf_hasattr(&die, DwarfAttribute.callTailCall) != 0 || dwarf_hasattr(&die, DwarfAttribute.gnuTailCall) != 0 {
            return Decoded(flow: reader.tailCallFlow(at: &die, callerReturnsValue: caller.returnsValue, channels: channels),
                           stores: [], unfollowed: 0)
        }
        let (flow, stores, unfollowed) = reader.flow(at: &die, ranges: caller.ranges, callerReturnsValue: caller.returnsValue,
                                                     parameters: &caller.parameters, channels: channels)
        return Decoded(flow: flow, stores: stores, unfollowed: unfollowed)
    }

    private static func subprogram(at offset: Dwarf_Off, file: DwarfFile, state: inout State) -> Subprogram? {
        if let known = state.subprograms[offset] { return known }
        var die = Dwarf_Die()
        guard dwarf_offdie(file.dwarf, offset, &die) != nil else { return nil }
        var parameters: [Dwarf_Die] = []
        var child = Dwarf_Die()
        if dwarf_child(&die, &child) == 0 {
            repeat {
                if dwarf_tag(&child) == DwarfTag.formalParameter { parameters.append(child) }
            } while DwarfFile.nextSibling(&child)
        }
        let found = Subprogram(ranges: DwarfFile.ranges(of: &die), returnsValue: state.interfaces.signature(of: &die).returnsValue,
                               parameters: parameters)
        state.subprograms[offset] = found
        return found
    }

    /// The prototype of the function a call site calls (its DW_AT_call_origin DIE), memoised.
    private static func declaredSignature(ofCallSite die: inout Dwarf_Die, state: inout State) -> FunctionSignature {
        var attr = Dwarf_Attribute()
        var target = Dwarf_Die()
        guard dwarf_attr(&die, DwarfAttribute.callOrigin, &attr) != nil || dwarf_attr(&die, DwarfAttribute.abstractOrigin, &attr) != nil,
              dwarf_formref_die(&attr, &target) != nil else { return .unknown }
        let offset = dwarf_dieoffset(&target)
        if let known = state.signatureByDie[offset] { return known }
        let signature = state.interfaces.signature(of: &target)
        state.signatureByDie[offset] = signature
        return signature
    }
}
