import Foundation
import XCTest
@testable import PatchModel
import TestSupport

final class ModuleSymversTests: XCTestCase {
    func testParsesThePinnedKernelsExports() throws {
        let symvers = try DifferFixture.symvers.get()
        XCTAssertTrue(symvers.isExportedByVmlinux("__fentry__"))
        XCTAssertTrue(symvers.isExportedByVmlinux("sched_smt_present"))
        XCTAssertFalse(symvers.isExportedByVmlinux("nr_processes"))
        XCTAssertEqual(symvers.export(of: "klp_enable_patch")?.gplOnly, true)
        XCTAssertEqual(symvers.export(of: "klp_enable_patch")?.module, "vmlinux")
        XCTAssertNil(symvers.export(of: "klp_enable"))
        XCTAssertGreaterThan(symvers.count, 10_000)
    }

    func testABadLineIsATypedErrorWithItsLineNumber() {
        XCTAssertThrowsError(try ModuleSymvers(text: "0x1234\tfoo\tvmlinux\tEXPORT_SYMBOL\t\nnonsense\n", file: "x")) { error in
            XCTAssertEqual(error as? ModuleSymvers.ParseError, .badLine(file: "x", line: 2, text: "nonsense"))
        }
    }
}

final class BTFTypesTests: XCTestCase {
    func testSpecialSectionEntrySizesComeFromTheKernelsBTF() throws {
        let layout = try DifferFixture.layout.get()
        // KERNEL-FACTS.md (pahole on the debug vmlinux).
        let expected = ["__bug_table": 12, "__ex_table": 12, "__jump_table": 16, ".parainstructions": 16,
                        ".altinstructions": 12, ".static_call_sites": 8, ".orc_unwind": 6]
        for (section, size) in expected { XCTAssertEqual(layout.entrySizes[section], size, section) }
    }

    func testTruncatedBTFIsATypedError() throws {
        let object = try DifferFixture.vmlinuxObject.get()
        let btf = try object.withData(of: try object.requireSection(named: ".BTF")) { Array($0.prefix(4096)) }
        XCTAssertThrowsError(try BTFTypes(bytes: btf, source: "cut")) { error in
            XCTAssertNotNil(error as? BTFTypes.BTFError)
        }
    }
}
