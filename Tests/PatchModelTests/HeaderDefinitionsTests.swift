import XCTest
@testable import PatchModel

/// The header parser that finds which identifiers a header diff changes
/// (fixture text: it reads source text, not the kernel).
final class HeaderDefinitionsTests: XCTestCase {
    private let old = """
        #define TASK_REPORT_IDLE\t(TASK_REPORT + 1)
        #define MAX_THING(a, b) \\
        \t((a) > (b) ? (a) : (b))
        struct proc_maps_private {
        \tstruct inode *inode;
        #ifdef CONFIG_NUMA
        \tstruct mempolicy *task_mempolicy;
        #endif
        } __randomize_layout;
        enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_MAX };
        typedef int (*thing_fn)(int);
        extern void sched_show_task(struct task_struct *p);
        TASK_PFA_TEST(NO_NEW_PRIVS, no_new_privs)
        static inline pid_t task_ppid_nr_ns(const struct task_struct *tsk, struct pid_namespace *ns)
        {
        \tpid_t pid = 0; /* a comment */
        \treturn pid;
        }
        static inline pid_t task_ppid_nr(const struct task_struct *tsk)
        {
        \treturn task_ppid_nr_ns(tsk, &init_pid_ns);
        }
        __printf(1, 2) static inline void say(const char *fmt, ...) { }
        """

    func testFindsEachKindOfDefinition() {
        let defs = HeaderDefinitions(text: old).definitions
        let byName = Dictionary(defs.map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byName["TASK_REPORT_IDLE"], .macro)
        XCTAssertEqual(byName["MAX_THING"], .macro)
        XCTAssertEqual(byName["struct proc_maps_private"], .record)
        XCTAssertEqual(byName["pid_type"], .enumeration)
        XCTAssertEqual(byName["thing_fn"], .typedef)
        XCTAssertEqual(byName["sched_show_task"], .declaration)
        XCTAssertEqual(byName["task_ppid_nr_ns"], .function)
        XCTAssertEqual(byName["task_ppid_nr"], .function)
        XCTAssertEqual(byName["say"], .function)
        XCTAssertEqual(defs.first { $0.name == "pid_type" }?.alsoDefines, ["PIDTYPE_PID", "PIDTYPE_TGID", "PIDTYPE_MAX"])
    }

    func testAnInlineBodyChangeNamesTheInlineAndItsDependents() {
        let new = old.replacingOccurrences(of: "\treturn pid;\n}", with: "\tif (pid == 1)\n\t\tpid = 0;\n\treturn pid;\n}")
        let before = HeaderDefinitions(text: old), after = HeaderDefinitions(text: new)
        let change = HeaderDefinitions.change(old: before, new: after)
        XCTAssertEqual(change, .init(identifiers: ["task_ppid_nr_ns"], records: []))
        XCTAssertEqual(after.dependents(of: ["task_ppid_nr_ns"]), ["task_ppid_nr"])
    }

    func testCommentsAndWhitespaceAreNoChange() {
        let new = old.replacingOccurrences(of: "/* a comment */", with: "/* another */   ")
        XCTAssertEqual(HeaderDefinitions.change(old: .init(text: old), new: .init(text: new)), .init(identifiers: [], records: []))
    }

    func testAStructMemberIsALayoutChange() {
        let new = old.replacingOccurrences(of: "\tstruct inode *inode;\n", with: "\tstruct inode *inode;\n\tunsigned long seq;\n")
        XCTAssertEqual(HeaderDefinitions.change(old: .init(text: old), new: .init(text: new)),
                       .init(identifiers: [], records: ["struct proc_maps_private"]))
    }

    func testMacroAndEnumChanges() {
        let new = old.replacingOccurrences(of: "(TASK_REPORT + 1)", with: "(TASK_REPORT + 2)")
            .replacingOccurrences(of: "PIDTYPE_TGID, ", with: "PIDTYPE_TGID, PIDTYPE_PGID, ")
        XCTAssertEqual(HeaderDefinitions.change(old: .init(text: old), new: .init(text: new)).identifiers,
                       ["PIDTYPE_MAX", "PIDTYPE_PGID", "PIDTYPE_PID", "PIDTYPE_TGID", "TASK_REPORT_IDLE", "pid_type"])
    }
}
