import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// At least 1,000 deterministic mutations of compiled objects (truncations,
/// flipped bytes, bad indices and offsets in headers, symbols and relocations):
/// each gives a typed error or a result. A crash ends the test process.
final class MalformedInputTests: XCTestCase {
    /// A small deterministic generator (SplitMix64).
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    func testMutatedObjectsGiveTypedErrorsOrResults() throws {
        var outcomes: [String: Int] = [:]
        var total = 0
        for name in ["body_change", "warn_on"] {
            let compiled = try CorpusCase.load(name, bed: DifferFixture.bed).compile(bed: DifferFixture.bed)
            let differ = try DifferFixture.differ(for: compiled)
            let scratch = try DifferFixture.bed.scratch("malformed-\(name)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            for (side, base) in [("orig", compiled.originalObject), ("patched", compiled.patchedObject)] {
                let bytes = [UInt8](try Data(contentsOf: base))
                let object = try ELFObject(url: base)
                var generator = Generator(state: UInt64(total) &+ 1)
                let mutants = mutations(of: bytes, object: object, count: 260, generator: &generator)
                for (i, mutant) in mutants.enumerated() {
                    let file = scratch.appendingPathComponent("\(side)-\(i).o")
                    try Data(mutant).write(to: file)
                    let outcome = run(differ, mutant: file, other: side == "orig" ? compiled.patchedObject : compiled.originalObject,
                                      mutantIsOriginal: side == "orig", output: scratch.appendingPathComponent("out.o"))
                    outcomes[outcome, default: 0] += 1
                    total += 1
                    try? FileManager.default.removeItem(at: file)
                }
            }
        }
        XCTAssertGreaterThanOrEqual(total, 1_000)
        XCTAssertNil(outcomes["untyped"], "\(outcomes)")
        XCTAssertGreaterThan(outcomes["ELFError", default: 0], 100, "\(outcomes)")
        print("malformed-input outcomes over \(total) mutations: \(outcomes.sorted { $0.key < $1.key })")
    }

    /// Crashes scripts/fuzz found, replayed on every section they concern in a real object:
    /// 1. an sh_addralign of 0xf800000000000010 passed the reader and trapped in
    ///    ELFWriter (Int conversion for libelf's d_align) when the patch was written;
    /// 2. a huge sh_entsize of a special section trapped in SpecialSectionLayout.
    func testFuzzFindingsGiveTypedErrors() throws {
        let compiled = try CorpusCase.load("body_change", bed: DifferFixture.bed).compile(bed: DifferFixture.bed)
        let differ = try DifferFixture.differ(for: compiled)
        let scratch = try DifferFixture.bed.scratch("fuzz-findings")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bytes = [UInt8](try Data(contentsOf: compiled.patchedObject))
        let object = try ELFObject(url: compiled.patchedObject)
        let shoff = Int(bytes[0x28..<0x30].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        /// The outcome of the differ on the object with one section header field replaced.
        func outcome(section: ELFSection, field: Int, value: UInt64) throws -> (kind: String, file: URL) {
            var mutant = bytes
            for k in 0..<8 { mutant[shoff + 64 * section.index + field + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
            let file = scratch.appendingPathComponent("mutant.o")
            try Data(mutant).write(to: file)
            return (run(differ, mutant: file, other: compiled.originalObject, mutantIsOriginal: false,
                        output: scratch.appendingPathComponent("out.o")), file)
        }
        let addralign = 48, entsize = 56
        for alignment: UInt64 in [0xf800_0000_0000_0010, 3, 1 << 31] {
            for section in object.sections.dropFirst() {
                let result = try outcome(section: section, field: addralign, value: alignment)
                XCTAssertEqual(result.kind, "ELFError", "\(section) alignment \(alignment)")
                XCTAssertThrowsError(try ELFObject(url: result.file)) { error in
                    XCTAssertTrue("\(error)".contains("alignment \(alignment) is not a power of two"), "\(error)")
                }
            }
        }
        let layout = try DifferFixture.layout.get()
        let special = object.sections.filter { layout.entrySizes[$0.name] != nil }
        XCTAssertFalse(special.isEmpty)
        for section in special {
            XCTAssertEqual(try outcome(section: section, field: entsize, value: 0xf800_0000_0000_0000).kind, "ELFError", "\(section)")
        }
    }

    /// Reads everything of the mutant, then diffs it; names the kind of result.
    private func run(_ differ: ObjectDiffer, mutant: URL, other: URL, mutantIsOriginal: Bool, output: URL) -> String {
        do {
            let object = try ELFObject(url: mutant)
            _ = try object.symbols()
            for s in object.sections where s.type == .rela { _ = try object.relocations(in: s) }
            for s in object.sections where s.occupiesFile { _ = try object.data(of: s) }
            let outcome = mutantIsOriginal ? try differ.diff(original: mutant, patched: other, output: output)
                                           : try differ.diff(original: other, patched: mutant, output: output)
            switch outcome {
            case .noChange: return "no-change"
            case .changed: return "changed"
            case .refused: return "refused"
            }
        } catch is ELFError { return "ELFError" }
        catch is DifferError { return "DifferError" }
        catch is TargetSymbols.LookupError { return "LookupError" }
        catch { return "untyped" }
    }

    /// Truncations, byte flips anywhere and in headers, and out-of-range
    /// values written into section headers, symbols and relocations.
    private func mutations(of bytes: [UInt8], object: ELFObject, count: Int, generator g: inout Generator) -> [[UInt8]] {
        var result: [[UInt8]] = []
        let shoff = Int(bytes[0x28..<0x30].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let symtab = object.symbolTable!
        let relas = object.sections.filter { $0.type == .rela && $0.size > 0 }
        func put(_ value: UInt64, width: Int, at offset: Int, in b: inout [UInt8]) {
            guard offset >= 0, offset + width <= b.count else { return }
            for k in 0..<width { b[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        }
        func wild() -> UInt64 {
            [0, 1, 0xff, 0xffff, 0xff20, 0xfff1, 0x7fff_ffff, 0xffff_ffff, UInt64.max, g.next() % 4096, g.next()][g.below(11)]
        }
        for i in 0..<count {
            var b = bytes
            switch i % 6 {
            case 0:  // truncation
                b = Array(b.prefix(g.below(b.count)))
            case 1:  // flipped bytes anywhere
                for _ in 0..<(1 + g.below(8)) { let at = g.below(b.count); b[at] ^= UInt8(1 << g.below(8)) }
            case 2:  // ELF header and section header fields
                if g.below(2) == 0 { put(wild(), width: 2 << g.below(3), at: 16 + g.below(48), in: &b) }
                else {
                    let section = g.below(object.sections.count)
                    let field = [0, 4, 8, 24, 32, 40, 44, 48, 56][g.below(9)]
                    put(wild(), width: field == 0 || field == 4 || field == 40 || field == 44 ? 4 : 8, at: shoff + 64 * section + field, in: &b)
                }
            case 3:  // symbols: name, section index, value, size
                let sym = 1 + g.below(Int(symtab.size / 24) - 1)
                let field = [0, 4, 6, 8, 16][g.below(5)]
                put(wild(), width: field == 0 ? 4 : field == 4 ? 1 : field == 6 ? 2 : 8, at: Int(symtab.offset) + 24 * sym + field, in: &b)
            case 4:  // relocations: offset, symbol index, type, addend
                let rela = relas[g.below(relas.count)]
                let entry = g.below(Int(rela.size / 24))
                let field = [0, 8, 12, 16][g.below(4)]
                put(wild(), width: field == 8 || field == 12 ? 4 : 8, at: Int(rela.offset) + 24 * entry + field, in: &b)
            default:  // bytes flipped inside the section headers
                for _ in 0..<(1 + g.below(4)) {
                    let at = shoff + g.below(64 * object.sections.count)
                    if at < b.count { b[at] = UInt8(truncatingIfNeeded: g.next()) }
                }
            }
            result.append(b)
        }
        return result
    }
}
