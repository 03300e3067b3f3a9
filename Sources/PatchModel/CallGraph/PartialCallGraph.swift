import CElf

/// The call graph of some compilation units of one file, in ids local to this
/// walk. Several partials (one per thread) merge into a `CallGraph`.
final class PartialCallGraph {
    /// Functions that create a kthread running their first argument.
    static let kthreadCreators: Set<String> = ["kthread_create_on_node", "kthread_create_on_cpu", "__kthread_create_on_node"]
    /// The kernel's accessor of the running task (x86: a per-CPU read of `current_task`), always inlined.
    static let currentTaskAccessor = "get_current"

    private(set) var names: [String] = []
    private var nameByPointer: [UInt: UInt32] = [:]
    private var nameByString: [String: UInt32] = [:]
    private(set) var units: [String] = []
    /// Node keys: name << 32 | (0 for a global function, else local unit + 1).
    private(set) var nodeKeys: [UInt64] = []
    private var nodeByKey: [UInt64: UInt32] = [:]
    /// For global functions defined here: node -> local unit.
    private(set) var definedIn: [UInt32: UInt32] = [:]
    /// For functions defined here: what their prototype lets them hand back.
    private(set) var interfaces: [UInt32: FunctionInterface] = [:]
    /// For functions defined here: what their prototype lets them hand back, per channel.
    private(set) var signatures: [UInt32: FunctionSignature] = [:]
    private let interfaceReader = FunctionInterfaceReader()
    /// Call sites: caller << 32 | callee, the call-site DIE offset, the outermost subprogram's DIE offset and node
    /// (the frame that runs the call; `CallSiteFlows` decodes what it keeps from them on demand).
    private(set) var sites: [(UInt64, UInt64, UInt64, UInt32)] = []
    /// Code ranges of the functions defined here (node, low, high), DWARF addresses.
    private(set) var ranges: [(UInt32, UInt64, UInt64)] = []
    /// The DIE offset of the subprogram being walked (outermost), whose code holds the calls.
    private var currentSubprogramDie: Dwarf_Off = 0
    /// caller << 34 | callee << 2 | kind.
    private(set) var edges: [UInt64] = []
    private(set) var entryAddresses: [UInt64: UInt32] = [:]
    /// (spawner, thread-function address, creator).
    private(set) var spawns: [(UInt32, UInt64, UInt32)] = []
    private var nodeByDie: [Dwarf_Off: UInt32] = [:]
    private var creatorNodes: Set<UInt32> = []
    private var currentUnit: UInt32 = 0
    /// The subprogram being walked (outermost), which runs every body inlined into it.
    private var currentSubprogram: UInt32?
    private var currentFile: DwarfFile?

    /// What a walk found, as a value: what `CallGraphBuilder.merge` reads, and what
    /// a worker thread hands back (the walker itself holds libdw state).
    struct Walked: Sendable {
        let names: [String]
        let units: [String]
        let nodeKeys: [UInt64]
        let definedIn: [UInt32: UInt32]
        let interfaces: [UInt32: FunctionInterface]
        let signatures: [UInt32: FunctionSignature]
        let sites: [(UInt64, UInt64, UInt64, UInt32)]
        let ranges: [(UInt32, UInt64, UInt64)]
        let edges: [UInt64]
        let entryAddresses: [UInt64: UInt32]
        let spawns: [(UInt32, UInt64, UInt32)]
    }

    var walked: Walked {
        Walked(names: names, units: units, nodeKeys: nodeKeys, definedIn: definedIn, interfaces: interfaces,
               signatures: signatures, sites: sites, ranges: ranges, edges: edges, entryAddresses: entryAddresses, spawns: spawns)
    }

    /// Walks the compilation unit whose DIE is at `offset`.
    func walkUnit(of file: DwarfFile, at offset: Dwarf_Off) {
        var unitDie = Dwarf_Die()
        guard dwarf_offdie(file.dwarf, offset, &unitDie) != nil else { return }
        currentFile = file
        defer { currentFile = nil }
        currentUnit = UInt32(units.count)
        units.append(dwarf_diename(&unitDie).map { String(cString: $0) } ?? "")
        walkChildren(of: &unitDie, owner: nil)
    }

    private func walkChildren(of parent: inout Dwarf_Die, owner: UInt32?) {
        var die = Dwarf_Die()
        guard dwarf_child(&parent, &die) == 0 else { return }
        repeat {
            switch dwarf_tag(&die) {
            case DwarfTag.subprogram:
                guard dwarf_hasattr(&die, DwarfAttribute.declaration) == 0,
                      let node = resolve(&die) else { break }
                if nodeKeys[Int(node)] & 0xffff_ffff == 0 { definedIn[node] = currentUnit }
                let signature = interfaceReader.signature(of: &die)
                interfaces[node] = max(interfaces[node] ?? .unknown, signature.passesNothingBack ? .passesNothingBack : .passesValuesBack)
                signatures[node] = FunctionSignature(rawValue: (signatures[node]?.rawValue ?? 0) | signature.rawValue)
                if let address = DwarfFile.entryAddress(of: &die) { entryAddresses[address] = node }
                let enclosing = (currentSubprogram, currentSubprogramDie)
                currentSubprogram = node
                currentSubprogramDie = dwarf_dieoffset(&die)
                ranges += DwarfFile.ranges(of: &die).map { (node, $0.0, $0.1) }
                walkChildren(of: &die, owner: node)
                (currentSubprogram, currentSubprogramDie) = enclosing
            case DwarfTag.inlinedSubroutine:
                guard let owner else { break }
                if let callee = origin(of: &die, attribute: DwarfAttribute.abstractOrigin) {
                    addEdge(owner, callee, .inlined)
                    if names[Int(nodeKeys[Int(callee)] >> 32)] == PartialCallGraph.currentTaskAccessor {
                        // The inlined body and the function it runs in both use the running task.
                        for user in Set([owner, currentSubprogram ?? owner]) { interfaces[user] = max(interfaces[user] ?? .unknown, .usesCurrentTask) }
                    }
                    walkChildren(of: &die, owner: callee)
                } else {
                    walkChildren(of: &die, owner: owner)
                }
            case DwarfTag.lexicalBlock:
                walkChildren(of: &die, owner: owner)
            case DwarfTag.callSite, DwarfTag.gnuCallSite:
                guard let owner else { break }
                guard let callee = origin(of: &die, attribute: DwarfAttribute.callOrigin)
                        ?? origin(of: &die, attribute: DwarfAttribute.abstractOrigin) else { break }
                let tail = dwarf_hasattr(&die, DwarfAttribute.callTailCall) != 0
                    || dwarf_hasattr(&die, DwarfAttribute.gnuTailCall) != 0
                addEdge(owner, callee, tail ? .tailCall : .call)
                sites.append((UInt64(owner) << 32 | UInt64(callee), dwarf_dieoffset(&die), currentSubprogramDie, currentSubprogram ?? owner))
                if creatorNodes.contains(callee), let address = threadFunctionAddress(at: &die) {
                    spawns.append((owner, address, callee))
                }
            default:
                break
            }
        } while DwarfFile.nextSibling(&die)
    }

    private func addEdge(_ caller: UInt32, _ callee: UInt32, _ kind: CallKind) {
        edges.append(UInt64(caller) << 34 | UInt64(callee) << 2 | UInt64(kind.rawValue))
    }

    private func origin(of die: inout Dwarf_Die, attribute: UInt32) -> UInt32? {
        var attr = Dwarf_Attribute()
        var target = Dwarf_Die()
        guard dwarf_attr(&die, attribute, &attr) != nil, dwarf_formref_die(&attr, &target) != nil else { return nil }
        return resolve(&target)
    }

    /// The node of the function a subprogram DIE (or its declaration, or abstract
    /// origin) stands for; memoized per DIE offset.
    private func resolve(_ die: inout Dwarf_Die) -> UInt32? {
        let offset = dwarf_dieoffset(&die)
        if let node = nodeByDie[offset] { return node }
        guard let cName = dwarf_diename(&die) else { return nil }
        let name = intern(cName)
        let global = dwarf_hasattr_integrate(&die, DwarfAttribute.external) != 0
        let key = UInt64(name) << 32 | (global ? 0 : UInt64(currentUnit) + 1)
        let node: UInt32
        if let known = nodeByKey[key] {
            node = known
        } else {
            node = UInt32(nodeKeys.count)
            nodeKeys.append(key)
            nodeByKey[key] = node
            if PartialCallGraph.kthreadCreators.contains(names[Int(name)]) { creatorNodes.insert(node) }
        }
        nodeByDie[offset] = node
        return node
    }

    /// Names live in .debug_str, where the linker merged equal strings: the
    /// pointer is a cheap first key, the string the fallback.
    private func intern(_ cName: UnsafePointer<CChar>) -> UInt32 {
        let pointer = UInt(bitPattern: cName)
        if let id = nameByPointer[pointer] { return id }
        let string = String(cString: cName)
        let id: UInt32
        if let known = nameByString[string] {
            id = known
        } else {
            id = UInt32(names.count)
            names.append(string)
            nameByString[string] = id
        }
        nameByPointer[pointer] = id
        return id
    }

    /// The constant function address passed as the first argument at a call site.
    private func threadFunctionAddress(at callSite: inout Dwarf_Die) -> UInt64? {
        switch firstArgument(of: &callSite) {
        case .constantAddress(let address): return address
        case .otherValue: return nil
        case .missing: return firstArgumentFromCode(of: &callSite)
        }
    }

    private enum FirstArgument {
        case constantAddress(UInt64)
        case otherValue
        case missing
    }

    /// The first argument register's value at a call site (`DW_TAG_call_site_parameter`,
    /// location DW_OP_reg5, value DW_OP_addr), or why there is no constant.
    private func firstArgument(of callSite: inout Dwarf_Die) -> FirstArgument {
        var parameter = Dwarf_Die()
        guard dwarf_child(&callSite, &parameter) == 0 else { return .missing }
        repeat {
            let tag = dwarf_tag(&parameter)
            guard tag == DwarfTag.callSiteParameter || tag == DwarfTag.gnuCallSiteParameter,
                  singleOperation(of: &parameter, DwarfAttribute.location)?.atom == DwarfOperation.firstArgumentRegister
            else { continue }
            let value = singleOperation(of: &parameter, DwarfAttribute.callValue)
                ?? singleOperation(of: &parameter, DwarfAttribute.gnuCallSiteValue)
            // GCC gives a constant address as DW_OP_addr, and in some init code as a plain constant;
            // the caller matches it against function entries.
            guard let value, DwarfOperation.constantAddress.contains(value.atom) else { return .otherValue }
            return .constantAddress(value.number)
        } while DwarfFile.nextSibling(&parameter)
        return .missing
    }

    /// Fallback when GCC left out the first argument's call-site parameter (it
    /// does at a few call sites): the relocation of the load of %rdi before the call.
    private func firstArgumentFromCode(of callSite: inout Dwarf_Die) -> UInt64? {
        var attr = Dwarf_Attribute()
        var returnPC: Dwarf_Addr = 0
        guard let file = currentFile, dwarf_attr(&callSite, DwarfAttribute.callReturnPC, &attr) != nil,
              dwarf_formaddr(&attr, &returnPC) == 0 else { return nil }
        return file.firstArgumentFromRelocations(returnPC: returnPC)
    }

    private func singleOperation(of die: inout Dwarf_Die, _ attribute: UInt32) -> Dwarf_Op? {
        var attr = Dwarf_Attribute()
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var count = 0
        guard dwarf_attr(&die, attribute, &attr) != nil,
              dwarf_getlocation(&attr, &ops, &count) == 0, count == 1, let ops else { return nil }
        return ops.pointee
    }
}
