import Foundation
@testable import PatchModel
import TestSupport

/// kpatch's differ unit-test objects (dynup/kpatch-unit-test-objs, x86_64): real
/// gcc output of kernel sources, read in place from `../shared/peer/` beside the
/// checkout (CI gets a copy of shared/ there; see docs/CORPUS.md). They are the
/// one exception to "objects compiled at test time": they come from kernels and
/// compilers this machine does not have.
struct KpatchUnitPair {
    let name: String
    let original: URL
    let patched: URL
    /// `NAME.PATCHED.FAIL.o`: kpatch's create-diff-object must fail on it.
    let mustFail: Bool
    /// `assert_num_funcs N` of `NAME.test`: the output's function symbols.
    let expectedFunctions: Int?
    /// kpatch's harness struct sizes for this pair (its Makefile's CDO_ENV, then `NAME.env`),
    /// by kernel struct name.
    let harnessStructSizes: [String: Int]

    static var directory: URL {
        DifferFixture.bed.root.deletingLastPathComponent().appendingPathComponent("shared/peer/kpatch-unit-test-objs")
    }

    /// kpatch's names for the struct sizes its harness passes, and the kernel structs they are.
    static let harnessNames: [String: String] = [
        "ALT_STRUCT_SIZE": "alt_instr", "JUMP_STRUCT_SIZE": "jump_entry", "BUG_STRUCT_SIZE": "bug_entry",
        "EX_STRUCT_SIZE": "exception_table_entry", "PARA_STRUCT_SIZE": "paravirt_patch_site",
        "ORC_STRUCT_SIZE": "orc_entry", "STATIC_CALL_STRUCT_SIZE": "static_call_site",
    ]
    /// Sizes kpatch's harness passes for tables our differ does not regenerate:
    /// `.printk_index` holds pointers to `_entry.N` records, which are data of their
    /// own (6.1 as pinned has no CONFIG_PRINTK_INDEX, so no kernel object has one).
    static let harnessOnly: Set<String> = ["PRINTK_INDEX_STRUCT_SIZE"]

    /// `NAME_STRUCT_SIZE=N` assignments (the Makefile's CDO_ENV line or a `.env` file).
    static func structSizes(in text: String) throws -> [String: Int] {
        var sizes: [String: Int] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) where word.contains("_STRUCT_SIZE=") {
            let parts = word.split(separator: "=", maxSplits: 1)
            if harnessOnly.contains(String(parts[0])) { continue }
            guard parts.count == 2, let type = harnessNames[String(parts[0])], let size = Int(parts[1]) else {
                throw TestBedError.fixture("kpatch unit suite: unknown struct size \(word)")
            }
            sizes[type] = size
        }
        return sizes
    }

    static func all() throws -> [KpatchUnitPair] {
        let dir = directory
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let makefile = try String(contentsOf: dir.appendingPathComponent("Makefile"), encoding: .utf8)
        let defaults = try structSizes(in: makefile.split(separator: "\n").first { $0.hasPrefix("CDO_ENV") }.map(String.init) ?? "")
        return try files.filter { $0.hasSuffix(".ORIG.o") }.sorted().map { file in
            let name = String(file.dropLast(".ORIG.o".count))
            let fail = files.contains("\(name).PATCHED.FAIL.o")
            let read = { (ext: String) -> String? in
                files.contains("\(name).\(ext)") ? try String(contentsOf: dir.appendingPathComponent("\(name).\(ext)"), encoding: .utf8) : nil
            }
            let count = try read("test").flatMap { text in
                text.split(separator: "\n").first { $0.hasPrefix("assert_num_funcs ") }.flatMap { Int($0.split(separator: " ")[1]) }
            }
            let sizes = defaults.merging(try structSizes(in: try read("env") ?? "")) { $1 }
            return KpatchUnitPair(name: name, original: dir.appendingPathComponent(file),
                                  patched: dir.appendingPathComponent(fail ? "\(name).PATCHED.FAIL.o" : "\(name).PATCHED.o"),
                                  mustFail: fail, expectedFunctions: count, harnessStructSizes: sizes)
        }
    }

    /// What our differ makes of the pair, judged by kpatch's rule.
    enum Verdict: Equatable, CustomStringConvertible {
        case pass(String)
        /// No patch, for a named reason (a refusal or an error naming what it cannot read).
        case refused(String)
        /// A wrong answer: a patch that breaks kpatch's rule, or "no change" where kpatch builds one.
        case wrong(String)

        var passed: Bool { if case .pass = self { return true } else { return false } }
        var isWrong: Bool { if case .wrong = self { return true } else { return false } }
        var description: String {
            switch self {
            case .pass(let why): return "pass: \(why)"
            case .refused(let why): return "REFUSED: \(why)"
            case .wrong(let why): return "WRONG: \(why)"
            }
        }
    }

    /// Runs the differ as kpatch's harness runs create-diff-object: the original
    /// object is the target's symbol table and the rest of the kernel (what the
    /// objects leave undefined) is taken as exported, since the harness passes no
    /// Module.symvers. The objects are kernel translation units: taken as vmlinux's
    /// (kpatch names them `test_NAME`; as a module, jump labels on their own
    /// tracepoint keys would be refused as module-static-key).
    func run(layout: SpecialSectionLayout, scratch: URL) -> Verdict {
        do {
            let moduleName = "vmlinux"
            let object = try ELFObject(url: original)
            let undefined = try object.symbols().filter(\.isUndefined).map(\.name)
                + ELFObject(url: patched).symbols().filter(\.isUndefined).map(\.name)
            let exports = try ModuleSymvers(text: Set(undefined).sorted().map { "0x00000000\t\($0)\tvmlinux\tEXPORT_SYMBOL\t\n" }.joined())
            let differ = ObjectDiffer(objectName: moduleName, target: try TargetSymbols(object: object, objectName: moduleName),
                                      exports: exports, layout: layout)
            let output = scratch.appendingPathComponent("\(name).OUTPUT.o")
            let outcome = try differ.diff(original: original, patched: patched, output: output)
            return judge(outcome, output: output)
        } catch {
            return mustFail ? .pass("refused: \(error)") : .refused("\(error)")
        }
    }

    private func judge(_ outcome: DiffOutcome, output: URL) -> Verdict {
        switch outcome {
        case .refused(let refusals):
            let text = refusals.map(\.description).joined(separator: "; ")
            return mustFail ? .pass("refused: \(text)") : .refused(text)
        case .noChange:
            // kpatch's create-diff-object exits non-zero when it finds no change, and our
            // build stops there too (BuildError.noChange): no patch either way.
            return mustFail ? .pass("no change: no patch is built") : .wrong("no change")
        case .changed(let plan):
            if mustFail { return .wrong("built what kpatch refuses: \(plan.replaced.map(\.name))") }
            do {
                let functions = try Self.functionSymbols(in: output)
                let why = plan.replaced.map { "\($0.name): \($0.reason?.description ?? "?")" }.joined(separator: "; ")
                let what = "\(functions.count) functions \(functions) (\(why))"
                guard let expected = expectedFunctions else { return .pass(what) }
                return functions.count == expected ? .pass(what) : .wrong("\(what), kpatch's rule wants \(expected)")
            } catch {
                return .wrong("output unreadable: \(error)")
            }
        }
    }

    /// kpatch's count (`nm OUTPUT | grep -i " t "`): symbols defined in executable sections.
    static func functionSymbols(in url: URL) throws -> [String] {
        let object = try ELFObject(url: url)
        return try object.symbols().filter { s in
            s.isInSection && !s.isSectionSymbol && !s.isFile && !s.name.isEmpty
                && Int(s.sectionIndex) < object.sections.count && object.sections[Int(s.sectionIndex)].isExecutable
        }.map(\.name).sorted()
    }
}
