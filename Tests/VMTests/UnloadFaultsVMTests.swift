import XCTest
import TestSupport
import KernelRuntime

/// Exit 8 in the real kernel (docs/CLI.md): revert disables a patch, the kernel
/// unpatches, then delete_module of the patch module fails because another module
/// uses a symbol it exports. revert names the module it left and the command that
/// ends it, in text and in JSON `problems`; once the user module is gone that
/// command leaves nothing behind. The same for a (foreign) cumulative patch whose
/// replaced patch's module is in use: apply exits 8 naming it. The hand-written
/// modules are Tests/Fixtures/unload-faults.
final class UnloadFaultsVMTests: XCTestCase {
    func testUnloadOfAPatchModuleInUseExits8NamingItAndItsRemedyCleansUp() throws {
        let bed = TestBed.shared
        let dir = try KbuildModule().build("unload-faults", sources: bed.root.appendingPathComponent("Tests/Fixtures/unload-faults"))
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String: URL] = [:]
        for name in ["livepatch_export", "kpexport_user", "livepatch_replace"] { files["\(name).ko"] = dir.appendingPathComponent("\(name).ko") }
        let vm = TestVM()
        let payload = try vm.payload("unload-faults", script: """
            lp=/sys/kernel/livepatch
            orig=$(cat /proc/cmdline)
            # pin ROUND: the patch applied, then a module that uses its export.
            pin() {
                check $1-apply kpatchctl apply --foreign /payload/livepatch_export.ko
                expect_eq $1-patched "$(cat /proc/cmdline)" livepatch_export
                check $1-insmod-user insmod /payload/kpexport_user.ko
                expect_eq $1-holder "$(ls /sys/module/livepatch_export/holders)" kpexport_user
            }
            # left ROUND: unpatched, the patch gone from sysfs, its module still loaded.
            left() {
                expect_eq $1-unpatched "$(cat /proc/cmdline)" "$orig"
                expect_eq $1-sysfs-gone "$(ls $lp)" ""
                expect_match $1-module-stays "$(cat /proc/modules)" "^livepatch_export "
            }
            # clean ROUND: the remedy, once the user module is gone, leaves nothing.
            clean() {
                check $1-rmmod-user rmmod kpexport_user
                out=$(kpatchctl revert livepatch_export 2>&1); rc=$?
                echo "$out"
                expect_eq $1-remedy-exit "$rc" 0
                expect_match $1-remedy-says "$out" "^reverted: livepatch_export .*module unloaded"
                expect_eq $1-clean "$(ls $lp)$(grep -cE '^(livepatch_export|kpexport_user) ' /proc/modules)" 0
                expect_eq $1-original "$(cat /proc/cmdline)" "$orig"
            }

            # 1. Text.
            pin text
            out=$(kpatchctl revert livepatch_export 2>&1); rc=$?
            echo "$out"
            expect_eq text-exit "$rc" 8
            expect_match text-problem "$out" "^error: unload failed: the kernel refused to unload module livepatch_export: .* \\\\(EWOULDBLOCK\\\\)\\\\. .*: module livepatch_export is still loaded \\\\(its patch is disabled\\\\): remove the modules that use it \\\\(rmmod kpexport_user\\\\), then run kpatchctl revert livepatch_export$"
            expect_match text-says-not-unloaded "$out" "^reverted: livepatch_export disabled in .*, module NOT unloaded"
            left text
            # The remedy while the user module is still loaded: refused, nothing changes.
            out=$(kpatchctl revert livepatch_export 2>&1); rc=$?
            echo "$out"
            expect_eq early-remedy-exit "$rc" 3
            expect_match early-remedy-says "$out" "the kernel refused to unload module livepatch_export: .* \\\\(EWOULDBLOCK\\\\)"
            left early
            clean text

            # 2. JSON (the problem decoded on the host).
            pin json
            out=$(kpatchctl revert --json livepatch_export 2>/tmp/revert.err); rc=$?
            echo "KPJSON revert $out"
            cat /tmp/revert.err
            expect_eq json-exit "$rc" 8
            left json
            clean json

            # 3. A foreign cumulative patch (klp_patch.replace) replaces livepatch_export,
            #    whose module kpexport_user keeps loaded.
            pin replace
            out=$(kpatchctl apply --foreign /payload/livepatch_replace.ko 2>&1); rc=$?
            echo "$out"
            expect_eq replace-exit "$rc" 8
            expect_match replace-problem "$out" "^error: unloading livepatch_export, replaced by livepatch_replace failed: the kernel refused to unload module livepatch_export: .* \\(EWOULDBLOCK\\)\\. .*: module livepatch_export is still loaded \\(its patch no longer runs\\): remove the modules that use it \\(rmmod kpexport_user\\), then run kpatchctl revert livepatch_export$"
            expect_match replace-says-replaced "$out" "^replaced livepatch_export in the same transition; see the errors above"
            expect_eq replace-patched "$(cat /proc/cmdline)" livepatch_replace
            expect_eq replace-sysfs "$(ls $lp)" livepatch_replace
            expect_match replace-module-stays "$(cat /proc/modules)" "^livepatch_export "
            check replace-rmmod-user rmmod kpexport_user
            out=$(kpatchctl revert livepatch_export 2>&1); rc=$?
            echo "$out"
            expect_eq replace-remedy-exit "$rc" 0
            expect_eq replace-remedy-leaves-cumulative "$(ls $lp) $(grep -c '^livepatch_export ' /proc/modules)" "livepatch_replace 0"
            check replace-revert kpatchctl revert livepatch_replace
            expect_eq replace-clean "$(ls $lp)$(grep -cE '^(livepatch_export|livepatch_replace|kpexport_user) ' /proc/modules)" 0
            expect_eq replace-original "$(cat /proc/cmdline)" "$orig"
            """, files: files)
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 240)
        var names: [String] = []
        for round in ["text", "json"] {
            names += ["apply", "patched", "insmod-user", "holder"].map { "\(round)-\($0)" }
        }
        for round in ["text", "early", "json"] { names += ["unpatched", "sysfs-gone", "module-stays"].map { "\(round)-\($0)" } }
        for round in ["text", "json"] {
            names += ["rmmod-user", "remedy-exit", "remedy-says", "clean", "original"].map { "\(round)-\($0)" }
        }
        names += ["apply", "patched", "insmod-user", "holder", "exit", "problem", "says-replaced", "patched", "sysfs",
                  "module-stays", "rmmod-user", "remedy-exit", "remedy-leaves-cumulative", "revert", "clean", "original"]
            .map { "replace-\($0)" }
        names += ["text-exit", "text-problem", "text-says-not-unloaded", "early-remedy-exit", "early-remedy-says", "json-exit"]
        XCTAssertChecksPassed(outcome, names)

        let report = try RuntimeFixtures.json(ControllerReport.self, label: "revert", in: outcome)
        XCTAssertEqual(report.patch, "livepatch_export")
        XCTAssertEqual(report.direction, .unpatching)
        XCTAssertEqual(report.outcome, .completed)
        XCTAssertFalse(report.unloaded)
        XCTAssertEqual(report.problems, [ControllerProblem(
            step: "unload",
            error: "the kernel refused to unload module livepatch_export: Resource temporarily unavailable (EWOULDBLOCK). "
                + "The module is in use: a livepatch module can be unloaded only after it is disabled and "
                + "the kernel has finished unpatching (kpatchctl revert NAME).",
            leftBehind: "module livepatch_export is still loaded (its patch is disabled)",
            remedy: "remove the modules that use it (rmmod kpexport_user), then run kpatchctl revert livepatch_export")])
    }
}
