import Foundation
import PatchCore

/// A livepatch module made by hand around a differ's patch object: a minimal
/// klp registration (until the builder's kmod/ template exists), linked by
/// Kbuild against the pinned headers, then rewritten by KlpPostLink.
public enum LivepatchFixture {
    /// Diffs corpus case `caseName` and returns (original module, livepatch module).
    public static func build(caseName: String, bed: TestBed) throws -> (URL, URL) {
        let corpusCase = try CorpusCase.load(caseName, bed: bed)
        let compiled = try corpusCase.compile(bed: bed)
        let target = try TargetSymbols(object: try ELFObject(url: compiled.originalModule), objectName: compiled.moduleName)
        let module = try build(name: "lp_\(caseName)", objectName: compiled.moduleName, target: target,
                               original: compiled.originalObject, patched: compiled.patchedObject, bed: bed)
        return (compiled.originalModule, module)
    }

    /// Diffs one translation unit of `objectName` and links the livepatch module `name`.
    public static func build(name: String, objectName: String, target: TargetSymbols?, original: URL, patched: URL,
                             bed: TestBed) throws -> URL {
        let vmlinuxObject = try ELFObject(url: bed.debugVmlinux)
        let vmlinux = try TargetSymbols(object: vmlinuxObject, objectName: "vmlinux")
        let differ = ObjectDiffer(
            objectName: objectName, target: target ?? vmlinux, vmlinux: vmlinux,
            exports: try ModuleSymvers(contentsOf: bed.headers.appendingPathComponent("Module.symvers")),
            layout: try SpecialSectionLayout(btf: BTFTypes(object: vmlinuxObject)))
        let dir = try bed.scratch(name)
        let outcome = try differ.diff(original: original, patched: patched, output: dir.appendingPathComponent("patch.o"))
        guard case .changed(let plan) = outcome else { throw FixtureError.notChanged(name, "\(outcome)") }
        try registration(plan: plan, patchName: name).write(to: dir.appendingPathComponent("livepatch.c"), atomically: true, encoding: .utf8)
        try "obj-m := \(name).o\n\(name)-y := livepatch.o patch.o\n"
            .write(to: dir.appendingPathComponent("Kbuild"), atomically: true, encoding: .utf8)
        // modpost reads each object's .cmd file; the patch object has no compile command.
        try "cmd_patch.o := kpatchctl differ\n".write(to: dir.appendingPathComponent(".patch.o.cmd"), atomically: true, encoding: .utf8)
        try runChecked(["make", "-s", "-C", bed.headers.path, "M=\(dir.path)", "modules"])
        let module = dir.appendingPathComponent("\(name).ko")
        try KlpPostLink().run(module: module)
        return module
    }

    /// C source registering one klp_patch for the plan's replaced functions.
    static func registration(plan: PatchPlan, patchName: String) -> String {
        let objects = Dictionary(grouping: plan.replaced, by: \.object)
        var text = "#include <linux/module.h>\n#include <linux/livepatch.h>\n\n"
        for f in plan.replaced { text += "extern void \(f.newSymbol)(void);\n" }
        for (object, funcs) in objects.sorted(by: { $0.key < $1.key }) {
            text += "\nstatic struct klp_func funcs_\(object)[] = {\n"
            for f in funcs { text += "\t{ .old_name = \"\(f.name)\", .new_func = \(f.newSymbol), .old_sympos = \(f.sympos) },\n" }
            text += "\t{ }\n};\n"
        }
        text += "\nstatic struct klp_object objs[] = {\n"
        for object in objects.keys.sorted() {
            text += "\t{ .name = \(object == "vmlinux" ? "NULL" : "\"\(object)\""), .funcs = funcs_\(object) },\n"
        }
        text += """
            \t{ }
            };

            static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

            static int __init lp_init(void) { return klp_enable_patch(&patch); }
            static void __exit lp_exit(void) { }
            module_init(lp_init);
            module_exit(lp_exit);
            MODULE_LICENSE("GPL");
            MODULE_INFO(livepatch, "Y");

            """
        return text
    }

    public enum FixtureError: Error, CustomStringConvertible {
        case notChanged(String, String)
        public var description: String {
            switch self { case .notChanged(let c, let o): return "\(c): differ gave \(o), not a change" }
        }
    }
}
