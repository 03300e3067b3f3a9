import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// One corpus case loaded for a single stage: both objects as models.
struct StageInput {
    let compiled: CompiledCase
    let original: ObjectModel
    let patched: ObjectModel

    init(_ name: String) throws {
        compiled = try CorpusCase.load(name, bed: DifferFixture.bed).compile(bed: DifferFixture.bed)
        original = try ObjectModel(path: compiled.originalObject.path)
        patched = try ObjectModel(path: compiled.patchedObject.path)
    }

    var correlation: Correlation { Correlator().correlate(original: original, patched: patched) }
    func comparison() throws -> Comparison {
        try Comparator(original: original, patched: patched, correlation: correlation, layout: DifferFixture.layout.get()).compare()
    }
    func status() throws -> [Int: SymbolChange] { try comparison().status }
    func patchedIndex(_ name: String) throws -> Int { try XCTUnwrap(patched.definedByName[name]?.first, name) }
    func originalIndex(_ name: String) throws -> Int { try XCTUnwrap(original.definedByName[name]?.first, name) }
    func inclusion() throws -> Inclusion { Includer(patched: patched, status: try status()).include() }
}

final class CorrelatorTests: XCTestCase {
    func testRenumberedStaticLocalsCorrelateByTheirFunction() throws {
        let input = try StageInput("static_local_renumbered")
        let c = input.correlation
        // kpc_count.13 in the original is kpc_count.14 in the patched object (a new static came first).
        let patchedCount = try XCTUnwrap(input.patched.symbols.first { $0.name.hasPrefix("kpc_count.") })
        let o = try XCTUnwrap(c.patchedToOriginal[patchedCount.index], "\(patchedCount.name) not correlated")
        XCTAssertEqual(input.original.symbols[o].name, "kpc_count.13")
    }

    func testGCCClonesCorrelateAndCompilerPrivateStaticsDoNot() throws {
        let isra = try StageInput("clone_isra")
        let p = try isra.patchedIndex("kpc_pick.isra.0")
        XCTAssertEqual(isra.correlation.patchedToOriginal[p], try isra.originalIndex("kpc_pick.isra.0"))
        let funcName = try StageInput("func_name_string")
        for s in funcName.patched.symbols where s.name.hasPrefix("__func__") {
            XCTAssertNil(funcName.correlation.patchedToOriginal[s.index], s.name)
        }
        XCTAssertTrue(funcName.patched.symbols.contains { $0.name.hasPrefix("__func__") })
    }
}

final class ComparatorTests: XCTestCase {
    func testOnlyTheFunctionWhoseBodyChangedIsChanged() throws {
        let input = try StageInput("body_change")
        let status = try input.status()
        XCTAssertEqual(status[try input.patchedIndex("kpc_sum")], .changed)
        XCTAssertEqual(status[try input.patchedIndex("kpc_show")], .unchanged)
        // Compiler-private statics (__UNIQUE_ID_*, __func__.N) are never correlated, so always new.
        let changed = status.filter { $0.value != .unchanged && !SymbolNames.isCompilerPrivate(input.patched.symbols[$0.key].name) }
        XCTAssertEqual(changed.map { input.patched.symbols[$0.key].name }, ["kpc_sum"])
    }

    func testIdenticalSourcesCompareUnchangedAndStringLiteralsByContent() throws {
        let same = try StageInput("no_change")
        let changes = try same.status().filter { $0.value != .unchanged }.map { same.patched.symbols[$0.key].name }
        XCTAssertTrue(changes.allSatisfy(SymbolNames.isCompilerPrivate), "\(changes)")
        let literal = try StageInput("string_literal")
        XCTAssertEqual(try literal.status()[try literal.patchedIndex("kpc_show")], .changed)
    }
}

final class IncluderTests: XCTestCase {
    func testIncludesChangedAndNewFunctionsButNotUnchangedOnes() throws {
        let input = try StageInput("new_static_function")
        let inclusion = try input.inclusion()
        XCTAssertEqual(inclusion.replaced, [try input.patchedIndex("kpc_sum")])
        XCTAssertEqual(inclusion.new, [try input.patchedIndex("kpc_clamp")])
        XCTAssertTrue(inclusion.symbols.contains(try input.patchedIndex("kpc_clamp")))
        XCTAssertFalse(inclusion.symbols.contains(try input.patchedIndex("kpc_show")))
    }

    func testColdPartTravelsWithItsParent() throws {
        let input = try StageInput("clone_cold")
        let inclusion = try input.inclusion()
        XCTAssertEqual(inclusion.replaced.map { input.patched.symbols[$0].name }, ["kpc_div"])
        XCTAssertTrue(inclusion.symbols.contains(try input.patchedIndex("kpc_div.cold")))
    }
}

final class SpecialSectionsTests: XCTestCase {
    func testBugTableAndOrcEntriesAreKeptOnlyForIncludedFunctions() throws {
        let input = try StageInput("warn_on")
        let inclusion = try input.inclusion()
        let stage = SpecialSections(patched: input.patched, layout: try DifferFixture.layout.get()) { _, _ in true }
        let outputs = Dictionary(uniqueKeysWithValues: try stage.regenerate(for: inclusion).map { ($0.source.name, $0) })
        let bug = try XCTUnwrap(outputs["__bug_table"])
        XCTAssertEqual(bug.entrySize, 12)
        XCTAssertGreaterThan(bug.bytes.count, 0)
        for ref in bug.references where Int(ref.offset) % bug.entrySize == 0 {
            guard case .symbol(let s) = ref.target else { return XCTFail("bug entry points at a section") }
            XCTAssertTrue(inclusion.symbols.contains(s), input.patched.symbols[s].name)
        }
        let ip = try XCTUnwrap(outputs[".orc_unwind_ip"]), orc = try XCTUnwrap(outputs[".orc_unwind"])
        XCTAssertEqual(ip.bytes.count / 4, orc.bytes.count / 6)
        let allIP = try input.patched.elf.requireSection(named: ".orc_unwind_ip")
        XCTAssertLessThan(ip.bytes.count, Int(allIP.size), "entries of unchanged functions were dropped")
    }
}

final class KlpResolverTests: XCTestCase {
    func testModuleStaticBecomesKlpAndExportsStayUndefined() throws {
        let input = try StageInput("module_static_var")
        let inclusion = try input.inclusion()
        let target = try TargetSymbols(object: try ELFObject(url: input.compiled.originalModule), objectName: input.compiled.moduleName)
        let resolver = KlpResolver(original: input.original, patched: input.patched, correlation: input.correlation,
                                   inclusion: inclusion, objectName: input.compiled.moduleName, target: target,
                                   vmlinux: nil, exports: try DifferFixture.symvers.get())
        let total = try input.patchedIndex("kpc_total")
        XCTAssertEqual(try resolver.resolve(.symbol(total)), .klp(KlpSymbol(object: "kpc_module_static_var", name: "kpc_total", sympos: 0)))
        let fentry = try XCTUnwrap(input.patched.symbols.first { $0.name == "__fentry__" })
        XCTAssertEqual(try resolver.resolve(.symbol(fentry.index)), .exported("__fentry__"))
    }

    func testSymposCountsSameNamedStaticsAcrossFiles() throws {
        let input = try StageInput("same_name_second_file")
        let target = try TargetSymbols(object: try ELFObject(url: input.compiled.originalModule), objectName: input.compiled.moduleName)
        let resolver = KlpResolver(original: input.original, patched: input.patched, correlation: input.correlation,
                                   inclusion: Inclusion(), objectName: input.compiled.moduleName, target: target,
                                   vmlinux: nil, exports: try DifferFixture.symvers.get())
        XCTAssertEqual(resolver.sourceFile, "kpc_b.c")
        let helper = input.original.symbols[try input.originalIndex("kpc_helper")]
        XCTAssertEqual(try resolver.locate(helper), TargetSymbols.Location(name: "kpc_helper", sympos: 2))
    }

    func testVmlinuxSymposUsesTheSourceFileBlock() throws {
        // Static functions named seq_show exist in several vmlinux files: each gets its own position.
        let vmlinux = try DifferFixture.vmlinux.get()
        let object = try DifferFixture.vmlinuxObject.get()
        let files = try object.symbols().filter(\.isFile)
        var positions: Set<Int> = []
        for file in Set(files.map(\.name)) {
            guard let block = vmlinux.fileBlock(sourceFile: file, localNames: ["seq_show"]),
                  let location = try? vmlinux.locate("seq_show", inBlock: block, sourceFile: file) else { continue }
            positions.insert(location.sympos)
        }
        XCTAssertGreaterThanOrEqual(positions.count, 2, "\(positions)")
        XCTAssertFalse(positions.contains(0))
    }
}

final class NoiseAndReasonTests: XCTestCase {
    private func ignored(_ name: String) throws -> Set<String> {
        let input = try StageInput(name)
        return Set(try input.comparison().ignored.map { input.patched.symbols[$0].name })
    }

    /// Renumbered dynamic-debug descriptors and a moved WARN line are noise, reported as ignored.
    func testFunctionsBelowAddedPrDebugAreIgnoredNotChanged() throws {
        let input = try StageInput("pr_debug_above")
        let comparison = try input.comparison()
        XCTAssertEqual(comparison.status[try input.patchedIndex("kpc_first")], .changed)
        for name in ["kpc_second", "kpc_third"] {
            XCTAssertEqual(comparison.status[try input.patchedIndex(name)], .unchanged, name)
        }
        XCTAssertEqual(try ignored("pr_debug_above"), ["kpc_second", "kpc_third"])
    }

    /// An include that shifts __COUNTER__ renames every later descriptor; the one after the fix is noise.
    func testCounterShiftFromAnAddedIncludeIsIgnored() throws {
        XCTAssertEqual(try ignored("counter_shift_include"), ["kpc_scale"])
        // kpc_show only reads kpc_btf_ids[1], whose __BTF_ID__ symbol was renumbered.
        XCTAssertEqual(try ignored("btf_id_list"), ["kpc_show"])
    }

    /// A blank line on top: `__FILE__ ":" __LINE__` in strings and a `__FILE__, __LINE__`
    /// printk argument pair move only their line; kpc_limit's real string change stays.
    func testLineNumbersInStringsAndFileLineArgumentsAreIgnored() throws {
        let input = try StageInput("line_in_string")
        let comparison = try input.comparison()
        // gcc moves kpc_assert's printk into kpc_assert.cold, a tail call: that part's bytes
        // differ in the line's immediate only.
        let o = try input.originalIndex("kpc_assert.cold"), p = try input.patchedIndex("kpc_assert.cold")
        XCTAssertNotEqual(try input.original.bytes(of: o), try input.patched.bytes(of: p))
        XCTAssertEqual(Set(comparison.ignored.map { input.patched.symbols[$0].name }), ["kpc_where", "kpc_assert.cold"])
        for name in ["kpc_assert", "kpc_assert.cold", "kpc_where"] {
            XCTAssertEqual(comparison.status[try input.patchedIndex(name)], .unchanged, name)
        }
        XCTAssertEqual(comparison.status[try input.patchedIndex("kpc_limit")], .changed)
    }

    func testReasonsNameWhatDiffers() throws {
        func reason(_ name: String, _ function: String) throws -> ChangeReason? {
            let input = try StageInput(name)
            return try input.comparison().reasons[try input.patchedIndex(function)]
        }
        XCTAssertEqual(try reason("body_change", "kpc_sum"), ChangeReason(.code))
        XCTAssertEqual(try reason("string_literal", "kpc_show")?.kind, .data)
        XCTAssertEqual(try reason("inlined_callee", "kpc_show"), ChangeReason(.inlinedCallee, "kpc_report"))
        // gcc fused kpc_scale into one lea with the caller's own code: no inlined range to tell them apart.
        XCTAssertEqual(try reason("inlined_helper", "kpc_front"), ChangeReason(.code))
    }
}

final class RefusalCheckerTests: XCTestCase {
    func testInitAndDataChangesAreRefusedWithAdvice() throws {
        for (name, kind, symbol) in [("init_changed", RefusalKind.initExitCode, "kpc_init"),
                                     ("changed_data", .changedData, "kpc_limit"), ("size_changed", .sizeChanged, "kpc_slots")] {
            let input = try StageInput(name)
            let refusals = try RefusalChecker(original: input.original, patched: input.patched,
                                              correlation: input.correlation, status: try input.status()).refusals()
            XCTAssertEqual(refusals.map(\.kind), [kind], name)
            XCTAssertEqual(refusals.first?.symbol, symbol, name)
            XCTAssertTrue(refusals.allSatisfy { !$0.advice.isEmpty && $0.reason.count > 10 }, name)
        }
        let fine = try StageInput("body_change")
        XCTAssertEqual(try RefusalChecker(original: fine.original, patched: fine.patched, correlation: fine.correlation,
                                          status: try fine.status()).refusals(), [])
    }
}

final class NotraceRedirectorTests: XCTestCase {
    private func redirect(_ input: StageInput) throws -> NotraceRedirection {
        try NotraceRedirector(original: input.original, patched: input.patched, correlation: input.correlation,
                              layout: DifferFixture.layout.get()).redirect(try input.comparison())
    }

    /// The syscall body is carried; both stubs that tail-jump to it are replaced, naming it.
    func testChangedSyscallBodyRedirectsToItsTracedStubs() throws {
        let input = try StageInput("syscall_body")
        let result = try redirect(input)
        XCTAssertEqual(result.refusals, [])
        XCTAssertEqual(Set(result.carried.map { input.patched.symbols[$0].name }), ["__do_sys_kpc_probe"])
        XCTAssertEqual(Set(result.callers.keys.map { input.patched.symbols[$0].name }), ["__x64_sys_kpc_probe", "__ia32_sys_kpc_probe", "kpc_show"])
        XCTAssertTrue(result.callers.values.allSatisfy { $0 == ChangeReason(.notraceCallee, "__do_sys_kpc_probe") })
    }

    /// Reached only through a function pointer: refused, naming the function and the pointer.
    func testNotraceFunctionReachedByPointerIsRefused() throws {
        let result = try redirect(try StageInput("notrace_pointer_only"))
        XCTAssertEqual(result.refusals.map(\.kind), [.notrace])
        XCTAssertEqual(result.refusals.first?.symbol, "kpc_fast")
        XCTAssertTrue(result.refusals.first?.reason.contains("kpc_op") ?? false, "\(result.refusals)")
        XCTAssertTrue(result.carried.isEmpty && result.callers.isEmpty)
    }
}
