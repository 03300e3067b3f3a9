/// How the compiler started the functions of an object, read from the object itself:
/// the padding before each function (`-fpatchable-function-entry=N,N`, Debian's 6.12:
/// `CONFIG_CALL_PADDING`, 16 NOPs, named `__pfx_<fn>` once objtool saw the object) and
/// whether indirect-branch tracking was on (`-fcf-protection=branch`: the compiler's
/// `.note.gnu.property` says x86 feature IBT).
///
/// The patch keeps both conventions for its functions: each is written with the padding
/// it had (call-depth tracking puts its accounting thunk there, and refuses a function
/// whose padding is not NOPs), and on an IBT object every replacement function starts
/// with `endbr64`. GCC gives none to a local function it only calls directly
/// (`foo.constprop.0`); the patch's `klp_func` table takes the replacement's address, so
/// one is inserted before its first instruction (see `PatchObjectWriter`).
struct FunctionEntry {
    /// `endbr64`.
    static let endbr64: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa]
    /// The single-byte NOP GCC pads with.
    static let nop: UInt8 = 0x90
    /// Symbols objtool (`--prefix=N`) and CFI name the padding with: never functions of their own.
    static let paddingPrefixes = ["__pfx_", "__cfi_"]
    /// The longest padding taken as such (`CONFIG_FUNCTION_PADDING_BYTES` is at most 64).
    static let maxPadding: UInt64 = 64

    /// `NT_GNU_PROPERTY_TYPE_0`, `GNU_PROPERTY_X86_FEATURE_1_AND` and its IBT bit.
    static let propertyNoteType: UInt32 = 5
    static let x86Feature1And: UInt32 = 0xc000_0002
    static let x86FeatureIBT: UInt32 = 1

    /// Whether `object` was compiled with indirect-branch tracking.
    static func isIBT(_ object: ObjectModel) throws -> Bool {
        guard let note = object.elf.section(named: ".note.gnu.property") else { return false }
        let bytes = try object.elf.data(of: note)
        func u32(_ at: Int) -> UInt32? {
            guard at >= 0, at + 4 <= bytes.count else { return nil }
            return bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        func align8(_ n: Int) -> Int { (n + 7) & ~7 }
        var at = 0
        while let nameSize = u32(at), let descSize = u32(at + 4), let type = u32(at + 8) {
            // Property notes are 8-byte aligned: the name ("GNU\0") ends at 16, where the properties start.
            let desc = align8(at + 12 + Int(nameSize))
            let end = desc + Int(descSize)
            guard end <= bytes.count else {
                throw ELFError.malformed(file: object.path, what: ".note.gnu.property: a note of \(descSize) bytes runs past the section")
            }
            if type == propertyNoteType {
                var p = desc
                while p + 8 <= end, let prType = u32(p), let prSize = u32(p + 4) {
                    if prType == x86Feature1And, let value = u32(p + 8) { return value & x86FeatureIBT != 0 }
                    p += 8 + align8(Int(prSize))
                }
            }
            at = align8(end)
        }
        return false
    }

    /// The padding symbols among `symbols`: `__pfx_<fn>`/`__cfi_<fn>` ending where a function
    /// of the same section starts (`inSection`: defined functions and variables per section).
    static func paddingSymbols(_ symbols: [ELFSymbol], inSection: [Int: [Int]]) -> Set<Int> {
        var result: Set<Int> = []
        for s in symbols where s.isFunction && s.isInSection && paddingPrefixes.contains(where: s.name.hasPrefix) {
            let starts = inSection[Int(s.sectionIndex)] ?? []
            if starts.contains(where: { $0 != s.index && symbols[$0].isFunction && symbols[$0].value == s.value &+ s.size }) {
                result.insert(s.index)
            }
        }
        return result
    }

    /// The NOP padding before function `index`: its section's bytes from the start up to the
    /// function, when they are all NOPs and no other function but its padding symbol lies there.
    static func padding(before index: Int, in object: ObjectModel) throws -> [UInt8] {
        let f = object.symbols[index]
        guard f.isFunction, f.isInSection, f.value > 0, f.value <= maxPadding else { return [] }
        let others = (object.symbolsInSection[Int(f.sectionIndex)] ?? []).filter {
            $0 != index && object.symbols[$0].value < f.value && !object.padding.contains($0)
        }
        guard others.isEmpty else { return [] }
        let section = try object.elf.section(at: Int(f.sectionIndex))
        guard section.occupiesFile, section.isExecutable else { return [] }
        let bytes = try object.elf.withData(of: section) { Array($0[0..<Int(f.value)]) }
        return bytes.allSatisfy { $0 == nop } ? bytes : []
    }
}
