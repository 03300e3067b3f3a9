/// Stage 6b: refusals that depend on what is included and how its references
/// resolve, checked before anything is written.
/// - A reference to link-time data (`.BTF_ids`) the running kernel does not
///   have: the patch cannot carry such data (it would hold the object file's
///   zeros), and there is nothing of the running kernel's to point at.
/// - A jump label on a static key of a module: the livepatch relocation of its
///   key is applied after the module loader's jump-label setup has read it.
struct LateRefusals {
    let patched: ObjectModel
    let correlation: Correlation
    let inclusion: Inclusion
    let specials: [SpecialSectionOutput]
    let resolver: KlpResolver

    /// `struct jump_entry { s32 code; s32 target; long key; }`: the key field's offset.
    static let jumpEntryKeyOffset: UInt64 = 8

    func refusals() throws -> [Refusal] {
        var result: Set<Refusal> = []
        var refs: [(user: String, ref: Reference)] = []
        for i in inclusion.symbols { refs += patched.references(of: i).map { (patched.symbols[i].name, $0) } }
        for i in inclusion.sections { refs += (patched.references[i] ?? []).map { (patched.sections[i].name, $0) } }
        for i in inclusion.fragments.keys { refs += inclusion.fragmentReferences(i, in: patched).map { (patched.sections[i].name, $0) } }
        for (user, ref) in refs {
            switch ref.target {
            case .symbol(let t) where patched.isLinkTimeData(t) && correlation.patchedToOriginal[t] == nil:
                result.insert(linkTime(patched.symbols[t].name, user: user))
            case .section(let s) where patched.isLinkTimeSection(s):
                result.insert(linkTime("\(patched.sections[s].name)+\(ref.addend)", user: user))
            default: break
            }
        }
        for special in specials where special.source.name == "__jump_table" {
            for ref in special.references where ref.offset % UInt64(special.entrySize) == Self.jumpEntryKeyOffset {
                guard case .klp(let key) = try resolver.resolve(ref.target), key.object != "vmlinux" else { continue }
                result.insert(Refusal(kind: .moduleStaticKey, symbol: key.name, section: "__jump_table",
                    reason: "a jump label (static_branch_*) on a static key defined in module \(key.object): the patch would reach the key through a livepatch relocation, which the kernel applies after it sets up the patch module's jump labels",
                    advice: "test the key with static_key_enabled(&\(key.name)) (or a plain variable) in the fixed code instead of static_branch_likely/unlikely"))
            }
        }
        return result.sorted { ($0.kind.rawValue, $0.symbol) < ($1.kind.rawValue, $1.symbol) }
    }

    private func linkTime(_ what: String, user: String) -> Refusal {
        Refusal(kind: .linkTimeData, symbol: what, section: ".BTF_ids",
            reason: "\(user) uses a BTF id the running kernel does not have (new or changed BTF_ID_LIST/BTF_SET entry); resolve_btfids fills these in when vmlinux or a module is linked, so a patch would only carry zeros",
            advice: "use BTF ids the running kernel already has (keep the BTF_ID_LIST as it is), or look the type up at run time (btf_find_by_name_kind)")
    }
}
