import XCTest
import TestSupport

/// Debian 13's 6.12 (trixie, gcc-14, IBT, call padding, return thunks; issue 19): patches
/// built on the host with the kernel's compiler in the build root, checked statically in
/// the built .ko, then applied in one boot of 6.12: the demo module fix with `apply --check`,
/// status and revert, a cumulative patch through the kernel's `replace`, a stall reversed at
/// the deadline (the reader named), a vmlinux fix, a
/// syscall-body fix whose new body calls non-exported vmlinux functions (klp relocations
/// objtool follows through their anchors), kswapd.diff refused by the kthread rule with its
/// path (`apply --check` and `apply`, nothing loaded), and last an unsigned patch refused
/// once `sig_enforce` is on (the parameter only goes from N to Y at run time: the same as
/// booting with module.sig_enforce=1, without a second boot).
/// TCG does not implement CET: nothing in the guest enforces ENDBR, so its placement is
/// checked in the .ko on the host. Needs the 6.12 test bed: without it, it fails naming
/// what to make.
final class Kernel612VMTests: XCTestCase {
    func testPatchesOn612() throws {
        let bed = try TestBed(pin: TestBed.pin612)
        try bed.requireKernel()
        let work = try bed.scratch("k612-vm")
        defer { try? FileManager.default.removeItem(at: work) }
        let binary = KpatchctlBinary(bed: bed)
        // The deployed demo module, built by the user with the kernel's compiler.
        let victim = try KbuildModule(bed: bed).build("k612-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        defer { try? FileManager.default.removeItem(at: victim) }
        var files: [String: URL] = ["kpvictim.ko": victim.appendingPathComponent("kpvictim.ko")]
        var builds: [String: String] = [:]
        let moduleCache = work.appendingPathComponent("cache")
        for (diff, name, extra) in [("fix", "livepatch_fix", []), ("replace-show", "livepatch_show", ["--replace"]),
                                    ("wait", "livepatch_wait", [])] {
            let out = work.appendingPathComponent("\(name).ko")
            let result = try binary.buildModulePatch(diff: bed.root.appendingPathComponent("examples/kpvictim/\(diff).diff"),
                                                     moduleSource: victim, output: out, cache: moduleCache,
                                                     extra: ["--name", name] + extra)
            XCTAssertEqual(result.status, 0, "\(diff):\n\(result.output)")
            builds[name] = result.output
            files["\(name).ko"] = out
        }
        let cmdline = work.appendingPathComponent("lp_cmdline.ko")
        let cmdlineBuild = try binary.buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/cmdline.diff"),
                                                       output: cmdline, extra: ["--name", "lp_cmdline"])
        XCTAssertEqual(cmdlineBuild.status, 0, cmdlineBuild.output)
        builds["lp_cmdline"] = cmdlineBuild.output
        files["lp_cmdline.ko"] = cmdline
        // Calls to non-exported vmlinux functions are klp relocations, written after the link; objtool,
        // which runs on the linked module on IBT kernels, follows them through their anchors
        // (docs/PATCH-OBJECT.md): ORC and return sites for the whole module, no objtool warning.
        // kswapd.diff builds too (with the kthread warning naming the path); `apply` refuses it.
        for (diff, name) in [("uname-syscall", "lp_uname"), ("kswapd", "lp_kswapd")] {
            let out = work.appendingPathComponent("\(name).ko")
            let result = try binary.buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff).diff"),
                                                     output: out, extra: ["--name", name])
            XCTAssertEqual(result.status, 0, "\(diff):\n\(result.output)")
            builds[name] = result.output
            files["\(name).ko"] = out
            try assertKlpCalls(out, name: name)
        }
        XCTAssertTrue(builds["lp_kswapd"]!.contains("kswapd -> kswapd_try_to_sleep -> prepare_kswapd_sleep"), builds["lp_kswapd"]!)
        XCTAssertTrue(builds["lp_uname"]!.contains("__x64_sys_newuname"), builds["lp_uname"]!)
        XCTAssertTrue(builds["livepatch_fix"]!.contains("kpvictim: kpvictim_sum.constprop.0"), builds["livepatch_fix"]!)
        XCTAssertTrue(builds["lp_cmdline"]!.contains("vmlinux: cmdline_proc_show"), builds["lp_cmdline"]!)
        for (name, output) in builds {
            // objtool checks the linked module (IBT kernels): no `data relocation to !ENDBR` or other warning.
            XCTAssertFalse(output.contains("warning: objtool"), "\(name):\n\(output)")
            try assertFunctionEntries(files["\(name).ko"]!, name: name, bed: bed)
        }

        let vm = TestVM(bed: bed)
        let payload = try vm.payload("k612", script: """
            expect_eq kernel "$(uname -r)" "\(bed.kernelRelease)"
            insmod /payload/kpvictim.ko
            expect_eq buggy "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            kpatchctl apply --check /payload/livepatch_fix.ko; rc=$?
            expect_eq check-exit "$rc" "0"
            expect_eq check-loads-nothing "$(ls /sys/kernel/livepatch)" ""
            kpatchctl apply /payload/livepatch_fix.ko > /tmp/apply.out 2>&1; rc=$?
            cat /tmp/apply.out
            expect_eq apply-fix "$rc" "0"
            expect_match taint-named "$(cat /tmp/apply.out)" "is not signed: loading it taints the kernel"
            expect_eq fixed "$(grep sum /proc/kpvictim)" "sum(1..10) = 55"
            expect_eq fix-not-replace "$(cat /sys/kernel/livepatch/livepatch_fix/replace)" "0"
            expect_match status-fix "$(kpatchctl status)" "livepatch_fix: enabled"

            kpatchctl apply /payload/livepatch_show.ko > /tmp/show.out 2>&1; rc=$?
            cat /tmp/show.out
            expect_eq apply-cumulative "$rc" "0"
            expect_eq kernel-replace "$(cat /sys/kernel/livepatch/livepatch_show/replace)" "1"
            expect_eq fix-replaced "$(ls /sys/kernel/livepatch)" "livepatch_show"
            if grep -q '^livepatch_fix ' /proc/modules; then fail fix-unloaded "still loaded"; else pass fix-unloaded; fi
            expect_match cumulative-behaviour "$(cat /proc/kpvictim)" "patched by the cumulative patch"
            expect_eq fix-gone-with-it "$(grep sum /proc/kpvictim)" "sum(1..10) = 45"
            status=$(kpatchctl status); echo "$status"
            expect_match status-replace "$status" "livepatch_show: enabled, replace \\\\(cumulative\\\\)"
            expect_match status-replaced "$status" "replaced livepatch_fix"
            check revert-cumulative kpatchctl revert livepatch_show
            expect_eq all-reverted "$(ls /sys/kernel/livepatch)" ""

            # A reader asleep in the patched function stalls the transition: reversed at the deadline
            # (6.12 completes the reversal from its delayed work, seconds later: followed up to 30 s).
            cat /proc/kpvictim_wait > /tmp/reader.out & reader=$!
            wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
            kpatchctl apply --timeout 3 /payload/livepatch_wait.ko > /tmp/wait.out 2>&1; rc=$?
            cat /tmp/wait.out
            expect_eq stall-reversed "$rc" "4"
            expect_match stall-names-reader "$(cat /tmp/wait.out)" "pid $reader tid $reader cat .*kpvictim_wait_show"
            expect_eq stall-nothing-left "$(ls /sys/kernel/livepatch)" ""
            echo go > /proc/kpvictim_release
            wait $reader
            expect_eq reader-released "$(cat /tmp/reader.out)" "released"

            \(GuestScript.cmdlineRoundTrip(file: "lp_cmdline.ko"))

            # A syscall-body fix whose new body calls non-exported vmlinux functions (klp relocations).
            check apply-uname kpatchctl apply /payload/lp_uname.ko
            expect_eq uname-patched "$(uname -s)" "Kpatched"
            check revert-uname kpatchctl revert lp_uname
            expect_eq uname-reverted "$(uname -s)" "Linux"

            # The kthread rule: kswapd sleeps in what the patch replaces, refused before loading.
            out=$(kpatchctl apply --check /payload/lp_kswapd.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kswapd-check-refused "$rc" "2"
            out=$(kpatchctl apply /payload/lp_kswapd.ko 2>&1); rc=$?
            echo "$out"
            expect_eq kswapd-refused "$rc" "2"
            expect_match kswapd-names-path "$out" "kswapd -> kswapd_try_to_sleep -> prepare_kswapd_sleep"
            expect_eq kswapd-nothing-loaded "$(ls /sys/kernel/livepatch)" ""

            # module.sig_enforce: off at boot, switched on (it cannot go back).
            echo 1 > /sys/module/module/parameters/sig_enforce
            expect_eq sig-enforced "$(cat /sys/module/module/parameters/sig_enforce)" "Y"
            out=$(kpatchctl apply /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_eq unsigned-refused "$rc" "2"
            expect_match unsigned-reason "$out" "module-signature: the kernel only loads signed modules \\\\(module.sig_enforce=1\\\\) and /payload/livepatch_fix.ko is not signed"
            expect_eq unsigned-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
            if grep -q '^livepatch_fix ' /proc/modules; then fail unsigned-not-in-modules "loaded"; else pass unsigned-not-in-modules; fi
            # The kernel agrees: the same file, loaded without kpatchctl, is rejected.
            out=$(insmod /payload/livepatch_fix.ko 2>&1); rc=$?
            echo "$out"
            expect_match kernel-rejects-unsigned "$rc $out" "^[1-9][0-9]* .*(Key was rejected|Required key not available)"
            """, files: files)
        defer { try? FileManager.default.removeItem(at: payload) }
        let outcome = try vm.run(payload: payload, timeout: 420)
        XCTAssertTrue(outcome.passed, outcome.report)
        XCTAssertEqual(outcome.checks.count, 41, "every check ran:\n\(outcome.report)")
    }

    /// A patch whose code calls non-exported vmlinux functions: objtool followed the whole
    /// linked module (ORC, return sites), and after the post-link pass every such call is a
    /// `.klp.rela.vmlinux.*` relocation against a SHN_LIVEPATCH symbol, with no ordinary
    /// relocation or undefined symbol left naming a klp symbol.
    private func assertKlpCalls(_ ko: URL, name: String) throws {
        let sections = try runChecked(["readelf", "-SW", ko.path])
        for section in [" .orc_unwind ", " .orc_unwind_ip ", " .return_sites ", " .klp.rela.vmlinux."] {
            XCTAssertTrue(sections.contains(section), "\(name): no \(section) section:\n\(sections)")
        }
        let symbols = try runChecked(["readelf", "-sW", ko.path]).split(separator: "\n").filter { $0.contains(".klp.sym.") }
        XCTAssertFalse(symbols.isEmpty, "\(name): no klp symbol")
        for line in symbols {
            XCTAssertFalse(line.contains(" UND ") || line.contains(" WEAK "), "\(name): klp symbol left undefined: \(line)")
        }
        // Relocations naming a klp symbol are only in .klp.rela.* sections.
        let relocations = try runChecked(["readelf", "-rW", ko.path]).components(separatedBy: "Relocation section '").dropFirst()
        for block in relocations where !block.hasPrefix(".klp.rela.") {
            XCTAssertFalse(block.contains(".klp.sym."), "\(name): an ordinary relocation names a klp symbol:\n\(block.prefix(2000))")
        }
    }

    /// ENDBR and padding in the linked patch module (TCG does not enforce CET, so this is
    /// where they are checked): every replacement function starts with `endbr64` after a
    /// 16-byte `__pfx_` of NOPs, and no ENDBR of the patch's functions is in
    /// `.ibt_endbr_seal` (the kernel would overwrite it with a NOP at load); module BTF is there
    /// when the headers ship the kernel's BTF (Debian's 6.12 do: a BTF-only `vmlinux`).
    private func assertFunctionEntries(_ ko: URL, name: String, bed: TestBed) throws {
        let symbols = try runChecked(["readelf", "-sW", ko.path])
        let replacements = symbols.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count >= 8 && f[3] == "FUNC" && f[7].hasPrefix("klp_new_") ? String(f[7]) : nil
        }
        XCTAssertFalse(replacements.isEmpty, "\(name): no klp_new_ function in\n\(symbols)")
        let code = try runChecked(["objdump", "-d", "--no-show-raw-insn", ko.path])
        for function in replacements {
            let body = code.components(separatedBy: "<\(function)>:\n").dropFirst().first ?? ""
            XCTAssertTrue(body.split(separator: "\n").first?.hasSuffix("endbr64") == true,
                          "\(name): \(function) does not start with endbr64:\n\(body.prefix(200))")
            // The 16 NOPs before it (objtool names them __pfx_ when it follows the whole function).
            let line = symbols.split(separator: "\n").first { $0.hasSuffix(" \(function)") }?.split(separator: " ") ?? []
            XCTAssertEqual(line.count >= 8 ? UInt64(line[1], radix: 16) : nil, 16, "\(name): \(function) does not start at 16")
            let dump = try runChecked(["readelf", "-x", String(line.count >= 8 ? line[6] : ""), ko.path])
            XCTAssertTrue(dump.contains("0x00000000 90909090 90909090 90909090 90909090"), "\(name): \(function) has no 16-byte NOP padding:\n\(dump.prefix(300))")
        }
        let relocations = try runChecked(["readelf", "-rW", ko.path])
        let seal = relocations.components(separatedBy: "'.rela.ibt_endbr_seal'").dropFirst().first?
            .components(separatedBy: "Relocation section").first ?? ""
        for function in replacements {
            XCTAssertFalse(seal.contains(function), "\(name): \(function)'s ENDBR is sealed")
        }
        // Module BTF is made by Kbuild against the BTF-only vmlinux Debian's 6.12 headers ship (the
        // kernel checks it against its own at load: the VM loads these modules).
        let hasBTFBase = FileManager.default.fileExists(atPath: bed.headers.appendingPathComponent("vmlinux").path)
        XCTAssertEqual(try runChecked(["readelf", "-SW", ko.path]).contains(" .BTF "), hasBTFBase, "\(name): module BTF")
    }
}
