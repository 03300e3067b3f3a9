import XCTest
@testable import PatchBuild
import PatchModel

/// kpatch-desc.h as generated for the template: callbacks wired into their
/// object (pre-patch through the logging wrapper apply reads), an object with
/// callbacks only, states and the replace flag.
final class PatchModuleDescriptionTests: XCTestCase {
    private func description(replace: Bool, states: [SystemState], relocationObjects: [String] = []) -> String {
        let meta = PatchMetadata(
            arch: "x86_64", kernelRelease: "6.1.0-56-amd64", vermagic: "v", targets: [], patchName: "livepatch_t",
            createdAt: 0, diffSHA256: String(repeating: "0", count: 64),
            functions: [.init(object: "kpvictim", name: "kpvictim_sum.constprop.0", sympos: 0, newSymbol: "klp_new_kpvictim_sum")],
            toolVersion: "0", replace: replace,
            callbacks: [.init(object: "kpvictim", kind: .postUnpatch, function: "post", newSymbol: "kpatchctl_callback_kpvictim_post_unpatch"),
                        .init(object: "vmlinux", kind: .prePatch, function: "pre", newSymbol: "kpatchctl_callback_vmlinux_pre_patch")],
            states: states)
        return PatchModuleSources(name: "livepatch_t", templateDir: URL(fileURLWithPath: "/nonexistent"), metadata: meta,
                                  patchObjects: [], relocationObjects: relocationObjects).description()
    }

    func testCallbacksStatesAndReplace() {
        let text = description(replace: true, states: [SystemState(id: 1, version: 2)])
        XCTAssertTrue(text.contains("#define KPATCH_REPLACE true"), text)
        XCTAssertTrue(text.contains("{ .name = \"kpvictim\", .funcs = kpatch_funcs_0, .callbacks = { .post_unpatch = kpatchctl_callback_kpvictim_post_unpatch } }"), text)
        // vmlinux has callbacks only: an empty klp_func array (the kernel requires one).
        XCTAssertTrue(text.contains("static struct klp_func kpatch_funcs_1[] = {\n\t{ }\n};"), text)
        XCTAssertTrue(text.contains("{ .name = NULL, .funcs = kpatch_funcs_1, .callbacks = { .pre_patch = kpatchctl_checked_vmlinux_pre_patch } }"), text)
        XCTAssertTrue(text.contains("int ret = kpatchctl_callback_vmlinux_pre_patch(obj);"), text)
        XCTAssertTrue(text.contains("\"kpatchctl: %s: pre-patch callback %s of object %s returned %d\\n\""), text)
        XCTAssertTrue(text.contains("{ .id = 1UL, .version = 2 },"), text)
        XCTAssertTrue(text.contains("#define KPATCH_STATES kpatch_states"), text)
    }

    func testPlainPatchHasNoStatesAndDoesNotReplace() {
        let text = description(replace: false, states: [])
        XCTAssertTrue(text.contains("#define KPATCH_REPLACE false"), text)
        XCTAssertTrue(text.contains("#define KPATCH_STATES NULL"), text)
    }

    /// vmlinux code calling a module's export: that module gets a klp_object without
    /// functions, so the kernel writes the patch's `.klp.rela.<module>.*` when it loads, and
    /// callbacks that hold a reference on the module while it is patched.
    func testObjectReachedOnlyByRelocationsGetsAnEmptyObjectThatPinsTheModule() {
        let text = description(replace: false, states: [], relocationObjects: ["vmlinux", "twofish_common"])
        XCTAssertTrue(text.contains("static struct klp_func kpatch_funcs_2[] = {\n\t{ }\n};"), text)
        XCTAssertTrue(text.contains("{ .name = \"twofish_common\", .funcs = kpatch_funcs_2, .callbacks = { .pre_patch = kpatchctl_pin_module, .post_unpatch = kpatchctl_unpin_module } },"), text)
        XCTAssertTrue(text.contains("try_module_get(obj->mod)"), text)
        XCTAssertTrue(text.contains("module_put(obj->mod);"), text)
        XCTAssertEqual(text.components(separatedBy: ".name = NULL").count, 2, "vmlinux once:\n\(text)")
        // Only twofish_common: not vmlinux, which the relocations also name.
        XCTAssertEqual(text.components(separatedBy: ".pre_patch = kpatchctl_pin_module").count, 2, text)
    }

    func testPatchWithoutCallsIntoOtherModulesPinsNothing() {
        let text = description(replace: false, states: [], relocationObjects: ["vmlinux"])
        XCTAssertFalse(text.contains("kpatchctl_pin_module"), text)
    }
}
