/// A special section of the patch object: the entries of the patched
/// object's table that belong to included functions.
struct SpecialSectionOutput {
    let source: ELFSection
    let entrySize: Int
    var bytes: [UInt8] = []
    /// References with offsets in the regenerated section.
    var references: [Reference] = []

    /// The references into sections of code fragments: an `.altinstructions` entry's
    /// replacement as the span its recorded length gives (`layout.alternativeFields`), any
    /// other as a plain reference.
    func fragmentReferences(layout: SpecialSectionLayout, isFragmentSection: (Int) -> Bool)
        -> (spans: [(section: Int, span: Range<Int64>)], others: [Reference]) {
        var spans: [(section: Int, span: Range<Int64>)] = [], others: [Reference] = []
        for ref in references {
            guard case .section(let i) = ref.target, isFragmentSection(i) else { continue }
            if source.name == ".altinstructions", let fields = layout.alternativeFields,
               ref.offset % UInt64(entrySize) == UInt64(fields.replacement) {
                let length = bytes[Int(ref.offset) - fields.replacement + fields.replacementLength]
                spans.append((i, ref.addend..<ref.addend + Int64(length)))
            } else {
                others.append(ref)
            }
        }
        return (spans, others)
    }
}

/// Stage 5: regenerate `__jump_table`, `.altinstructions`, `__ex_table`,
/// `__bug_table`, `.static_call_sites`, `.retpoline_sites`, `.return_sites`,
/// `.smp_locks`, `.orc_unwind(_ip)`, `__mcount_loc`, ... for the included
/// functions only. An entry belongs to the function its first field points at.
struct SpecialSections {
    let patched: ObjectModel
    let layout: SpecialSectionLayout
    /// Entries for which this returns false are dropped (e.g. a static call
    /// site whose key only a livepatch relocation could reach).
    let keepEntry: (_ section: String, _ references: [Reference]) -> Bool

    func regenerate(for inclusion: Inclusion) throws -> [SpecialSectionOutput] {
        var outputs: [SpecialSectionOutput] = []
        var keptIndices: [String: [Int]] = [:]
        for section in patched.sections where section.name != ".orc_unwind" {
            guard let size = try layout.entrySize(of: section, file: patched.path) else { continue }
            let bytes = try patched.elf.data(of: section) + [UInt8](repeating: 0, count: try Self.tailPadding(of: section, entrySize: size, file: patched.path))
            var byEntry: [Int: [Reference]] = [:]
            for ref in patched.references[section.index] ?? [] { byEntry[Int(ref.offset) / size, default: []].append(ref) }
            var output = SpecialSectionOutput(source: section, entrySize: size)
            var kept: [Int] = []
            for entry in 0..<(bytes.count / size) {
                let refs = byEntry[entry] ?? []
                guard let first = refs.first, belongsToIncluded(first, inclusion),
                      keepEntry(section.name, refs) else { continue }
                let newBase = UInt64(output.bytes.count)
                output.bytes += bytes[(entry * size)..<((entry + 1) * size)]
                output.references += refs.map {
                    Reference(offset: $0.offset - UInt64(entry * size) + newBase, type: $0.type, addend: $0.addend, target: $0.target)
                }
                kept.append(entry)
            }
            keptIndices[section.name] = kept
            if !kept.isEmpty { outputs.append(output) }
        }
        // .orc_unwind has no relocations: its entries run parallel to .orc_unwind_ip.
        if let orc = patched.elf.section(named: ".orc_unwind"), let kept = keptIndices[".orc_unwind_ip"], !kept.isEmpty,
           let size = try layout.entrySize(of: orc, file: patched.path) {
            let bytes = try patched.elf.data(of: orc)
            var output = SpecialSectionOutput(source: orc, entrySize: size)
            for entry in kept {
                guard (entry + 1) * size <= bytes.count else {
                    throw ELFError.malformed(file: patched.path, what: ".orc_unwind has fewer entries than .orc_unwind_ip")
                }
                output.bytes += bytes[(entry * size)..<((entry + 1) * size)]
            }
            outputs.append(output)
        }
        return outputs
    }

    /// The bytes the last entry lacks. Entries aligned one by one (`.parainstructions`:
    /// `_ASM_ALIGN` before each) leave the last without its tail padding, which is
    /// less than the section's alignment; anything else is not this layout's table.
    static func tailPadding(of section: ELFSection, entrySize size: Int, file: String) throws -> Int {
        let remainder = size > 0 ? Int(section.size % UInt64(size)) : 0
        guard size > 0, remainder == 0 || UInt64(size - remainder) < max(section.alignment, 1) else {
            throw ELFError.malformed(file: file, what: "\(section) is \(section.size) bytes, not a multiple of its entry size \(size)")
        }
        return remainder == 0 ? 0 : size - remainder
    }

    private func belongsToIncluded(_ ref: Reference, _ inclusion: Inclusion) -> Bool {
        switch ref.target {
        case .symbol(let i): return inclusion.symbols.contains(i) && patched.symbols[i].isFunction
        case .section(let i):
            return inclusion.copies(ref.place(fromCode: false), in: i) && patched.sections[i].isExecutable
        }
    }
}
