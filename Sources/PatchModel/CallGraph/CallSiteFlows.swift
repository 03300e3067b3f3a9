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
        var subprograms: [Dwarf_Off: CallerFunction] = [:]
        var argumentsByDie: [Dwarf_Off: CallArguments] = [:]
        var signatureByDie: [Dwarf_Off: FunctionSignature] = [:]
    }

    /// A site's flow, where its frame stores what it keeps (nil: not all known), and the arguments it keeps in
    /// memory without following their loads (bits 0-5).
    struct Decoded {
        var flow: CallSiteFlow
        var stores: [UInt64]?
        var unfollowed: UInt8 = 0x3f
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
        let (flow, stores, unfollowed) = reader.flow(at: &die, caller: &caller, channels: channels,
                                                     resultIsBool: declaredArguments(ofCallSite: &die, state: &state).returnsBool)
        return Decoded(flow: flow, stores: stores, unfollowed: unfollowed)
    }

    private static func subprogram(at offset: Dwarf_Off, file: DwarfFile, state: inout State) -> CallerFunction? {
        if let known = state.subprograms[offset] { return known }
        var die = Dwarf_Die()
        guard dwarf_offdie(file.dwarf, offset, &die) != nil, let entry = DwarfFile.entryAddress(of: &die) else { return nil }
        var parameters: [Dwarf_Die] = []
        var child = Dwarf_Die()
        if dwarf_child(&die, &child) == 0 {
            repeat {
                if dwarf_tag(&child) == DwarfTag.formalParameter { parameters.append(child) }
            } while DwarfFile.nextSibling(&child)
        }
        var calls: [UInt64: CallArguments] = [:]
        collectCalls(in: &die, into: &calls, state: &state)
        let found = CallerFunction(entry: entry, ranges: DwarfFile.ranges(of: &die),
                                   returnsValue: state.interfaces.signature(of: &die).returnsValue, parameters: parameters,
                                   calls: calls, frameBaseIsCFA: frameBaseIsCFA(&die))
        state.subprograms[offset] = found
        return found
    }

    /// What each call made in `die`'s code (its inlined bodies and blocks included) passes, by return address.
    private static func collectCalls(in die: inout Dwarf_Die, into calls: inout [UInt64: CallArguments], state: inout State) {
        var child = Dwarf_Die()
        guard dwarf_child(&die, &child) == 0 else { return }
        repeat {
            switch dwarf_tag(&child) {
            case DwarfTag.callSite, DwarfTag.gnuCallSite:
                var attr = Dwarf_Attribute()
                var returnPC: Dwarf_Addr = 0
                guard dwarf_attr(&child, DwarfAttribute.callReturnPC, &attr) != nil && dwarf_formaddr(&attr, &returnPC) == 0
                        || dwarf_lowpc(&child, &returnPC) == 0 else { continue }
                calls[returnPC] = declaredArguments(ofCallSite: &child, state: &state)
            case DwarfTag.inlinedSubroutine, DwarfTag.lexicalBlock:
                collectCalls(in: &child, into: &calls, state: &state)
            default:
                break
            }
        } while DwarfFile.nextSibling(&child)
    }

    /// DW_AT_frame_base is `DW_OP_call_frame_cfa`.
    private static func frameBaseIsCFA(_ die: inout Dwarf_Die) -> Bool {
        var attr = Dwarf_Attribute()
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var count = 0
        guard dwarf_attr(&die, DwarfAttribute.frameBase, &attr) != nil, dwarf_getlocation(&attr, &ops, &count) == 0,
              let ops, count == 1 else { return false }
        return ops.pointee.atom == UInt8(DW_OP_call_frame_cfa)
    }

    /// The function a call site calls (its DW_AT_call_origin DIE), or nil for a call through a pointer.
    private static func callee(ofCallSite die: inout Dwarf_Die) -> Dwarf_Die? {
        var attr = Dwarf_Attribute()
        var target = Dwarf_Die()
        guard dwarf_attr(&die, DwarfAttribute.callOrigin, &attr) != nil || dwarf_attr(&die, DwarfAttribute.abstractOrigin, &attr) != nil,
              dwarf_formref_die(&attr, &target) != nil else { return nil }
        return target
    }

    /// How a call site passes its arguments, from the callee's prototype, memoised.
    private static func declaredArguments(ofCallSite die: inout Dwarf_Die, state: inout State) -> CallArguments {
        fromCallee(of: &die, \.argumentsByDie, state: &state, unknown: .unknown) { $0.arguments(of: &$1) }
    }

    /// The prototype of the function a call site calls (its DW_AT_call_origin DIE), memoised.
    private static func declaredSignature(ofCallSite die: inout Dwarf_Die, state: inout State) -> FunctionSignature {
        fromCallee(of: &die, \.signatureByDie, state: &state, unknown: .unknown) { $0.signature(of: &$1) }
    }

    /// What the function a call site calls declares, read once per callee DIE (`unknown` for a call through a pointer).
    private static func fromCallee<Value>(of die: inout Dwarf_Die, _ memo: WritableKeyPath<State, [Dwarf_Off: Value]>,
                                          state: inout State, unknown: Value,
                                          read: (FunctionInterfaceReader, inout Dwarf_Die) -> Value) -> Value {
        guard var target = callee(ofCallSite: &die) else { return unknown }
        let offset = dwarf_dieoffset(&target)
        if let known = state[keyPath: memo][offset] { return known }
        let value = read(state.interfaces, &target)
        state[keyPath: memo][offset] = value
        return value
    }
}
