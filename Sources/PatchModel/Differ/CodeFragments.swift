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
        guard offset >= 0, offset < Int64(data.count) else { return nil }
        let end = startsOf(section).first { $0 > offset } ?? Int64(data.count)
        let refs = (model.references[section] ?? []).filter { Int64($0.offset) >= offset && Int64($0.offset) < end }
            .map { Reference(offset: $0.offset - UInt64(offset), type: $0.type, addend: $0.addend, target: $0.target) }
        return (Array(data[Int(offset)..<Int(end)]), refs)
    }

    private func startsOf(_ section: Int) -> [Int64] {
        if let known = starts[section] { return known }
        var places: Set<Int64> = []
        for (from, refs) in model.references where from != section {
            for ref in refs {
                guard case .section(let s) = ref.target, s == section else { continue }
                places.insert(ref.type.isPCRelative ? ref.addend &+ 4 : ref.addend)
            }
        }
        let sorted = places.sorted()
        starts[section] = sorted
        return sorted
    }
}
