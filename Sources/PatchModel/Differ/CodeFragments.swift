/// Code fragments in sections without symbols that functions jump to:
/// `.altinstr_aux` (static_cpu_has()'s run-time test) and `.altinstr_replacement`.
/// A fragment starts where something outside its section points and runs to the
/// next such place. Fragments of other functions shift when one function gains
/// or loses one, so a reference into such a section is compared by the fragment
/// it reaches (bytes and references), not by its offset.
final class CodeFragments {
    let model: ObjectModel
    /// Sorted fragment starts per section.
    private var starts: [Int: [Int64]] = [:]

    init(model: ObjectModel) { self.model = model }

    /// True for an executable section without function symbols.
    func holdsFragments(_ section: Int) -> Bool {
        model.sections[section].isExecutable && model.symbolsInSection[section] == nil
    }

    /// The fragment of `section` at `offset`: its bytes and its references (offsets relative to it).
    func fragment(in section: Int, at offset: Int64) throws -> (bytes: [UInt8], references: [Reference])? {
        let data = try model.elf.data(of: model.sections[section])
        guard let end = span(in: section, containing: offset)?.upperBound else { return nil }
        let refs = references(in: section, span: offset..<end)
            .map { Reference(offset: $0.offset - UInt64(offset), type: $0.type, addend: $0.addend, target: $0.target) }
        return (Array(data[Int(offset)..<Int(end)]), refs)
    }

    /// The fragment holding `place`: from the last start at or before it to the next start
    /// (or the section's end); nil outside the section.
    func span(in section: Int, containing place: Int64) -> Range<Int64>? {
        let size = Int64(model.sections[section].size)
        guard place >= 0, place < size else { return nil }
        let starts = startsOf(section)
        let start = starts.last { $0 <= place } ?? 0
        return start..<(starts.first { $0 > place } ?? size)
    }

    /// The references applied inside `span` of `section`, at their offsets in the section.
    func references(in section: Int, span: Range<Int64>) -> [Reference] {
        (model.references[section] ?? []).filter { span.contains(Int64($0.offset)) }
    }

    private func startsOf(_ section: Int) -> [Int64] {
        if let known = starts[section] { return known }
        var places: Set<Int64> = []
        for (from, refs) in model.references where from != section {
            for ref in refs {
                guard case .section(let s) = ref.target, s == section else { continue }
                places.insert(ref.place(fromCode: model.sections[from].isExecutable))
            }
        }
        let sorted = places.sorted()
        starts[section] = sorted
        return sorted
    }
}
