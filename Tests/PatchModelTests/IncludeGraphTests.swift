import XCTest
@testable import PatchModel

/// The include graph on grep output as a kernel tree gives it.
final class IncludeGraphTests: XCTestCase {
    private let files: Set<String> = [
        "include/linux/a.h", "include/linux/b.h", "fs/proc/internal.h", "fs/proc/fd.h",
        "fs/proc/base.c", "fs/proc/fd.c", "fs/proc/array.c", "mm/x.c", "arch/x86/include/asm/c.h",
    ]

    private func graph(_ lines: String) -> IncludeGraph {
        IncludeGraph(grepLines: lines.split(separator: "\n")) { self.files.contains($0) }
    }

    func testDirectAndTransitiveIncludersThroughQuotedAndSystemPaths() {
        let g = graph("""
            ./fs/proc/base.c:#include "fd.h"
            ./fs/proc/fd.c:#include "fd.h"
            ./fs/proc/fd.h:#include <linux/b.h>
            ./fs/proc/array.c:#include "internal.h"
            ./fs/proc/internal.h:# include <linux/a.h>
            ./mm/x.c:  #include "../include/linux/b.h"
            ./include/linux/b.h:#include <asm/c.h>
            ./mm/x.c:#include <linux/missing.h>
            ./mm/x.c:/* #include <linux/a.h> */
            """)
        XCTAssertEqual(g.sourceFiles(reaching: "fs/proc/fd.h"), ["fs/proc/base.c", "fs/proc/fd.c"])
        XCTAssertEqual(g.sourceFiles(reaching: "include/linux/b.h"), ["fs/proc/base.c", "fs/proc/fd.c", "mm/x.c"])
        XCTAssertEqual(g.sourceFiles(reaching: "arch/x86/include/asm/c.h"), ["fs/proc/base.c", "fs/proc/fd.c", "mm/x.c"])
        XCTAssertEqual(g.sourceFiles(reaching: "include/linux/a.h"), ["fs/proc/array.c"])
        XCTAssertEqual(g.sourceFiles(reaching: "include/linux/nothing.h"), [])
    }

    func testIncludeCyclesTerminate() {
        let g = graph("""
            include/linux/a.h:#include <linux/b.h>
            include/linux/b.h:#include <linux/a.h>
            mm/x.c:#include <linux/a.h>
            """)
        XCTAssertEqual(g.sourceFiles(reaching: "include/linux/b.h"), ["mm/x.c"])
    }

    func testDirectiveParsing() {
        XCTAssertEqual(IncludeGraph.includedName("#include <linux/fs.h>")?.0, "linux/fs.h")
        XCTAssertEqual(IncludeGraph.includedName("\t# include \"x.h\" // c")?.1, true)
        XCTAssertNil(IncludeGraph.includedName("#define include <x>"))
        XCTAssertNil(IncludeGraph.includedName("#include MACRO_HEADER"))
        XCTAssertEqual(IncludeGraph.normalize("fs/proc/../../include/./linux/a.h"), "include/linux/a.h")
    }
}
