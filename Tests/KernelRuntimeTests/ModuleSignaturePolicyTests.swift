import Foundation
import XCTest
@testable import KernelRuntime
import PatchModel
import TestSupport

/// The signature policy read from a fixture sysfs laid out as 6.12 lays it out (the VM test
/// Kernel612VMTests checks it against the kernel).
final class ModuleSignaturePolicyTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sig-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func make(_ path: String, _ text: String) throws -> URL {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testEnforcementComesFromSigEnforceOrLockdown() throws {
        try _ = make("module/module/parameters/sig_enforce", "N\n")
        XCTAssertEqual(try ModuleSignaturePolicy.current(sysfs: root.path), ModuleSignaturePolicy(enforcedBy: nil, checksSignatures: true))
        try _ = make("kernel/security/lockdown", "[none] integrity confidentiality\n")
        XCTAssertNil(try ModuleSignaturePolicy.current(sysfs: root.path).enforcedBy)
        try _ = make("kernel/security/lockdown", "none [integrity] confidentiality\n")
        XCTAssertEqual(try ModuleSignaturePolicy.current(sysfs: root.path).enforcedBy, "lockdown=integrity")
        try _ = make("module/module/parameters/sig_enforce", "Y\n")
        XCTAssertEqual(try ModuleSignaturePolicy.current(sysfs: root.path).enforcedBy, "module.sig_enforce=1, lockdown=integrity")
    }

    func testUnsignedPatchIsRefusedOnlyWhenEnforcedAndOtherwiseNamedAsTainting() throws {
        try _ = make("module/module/parameters/sig_enforce", "N\n")
        let unsigned = try make("p/unsigned.ko", "\u{7f}ELF...")
        let signed = try make("p/signed.ko", "\u{7f}ELF...signature~Module signature appended~\n")
        XCTAssertFalse(try ModuleSignaturePolicy.isSigned(unsigned.path))
        XCTAssertTrue(try ModuleSignaturePolicy.isSigned(signed.path))
        XCTAssertTrue(try ModuleSignaturePolicy.taintNote(for: unsigned.path, sysfs: root.path)?.contains("taints the kernel (E") == true)
        XCTAssertNil(try ModuleSignaturePolicy.taintNote(for: signed.path, sysfs: root.path))

        try _ = make("module/module/parameters/sig_enforce", "Y\n")
        XCTAssertNil(try ModuleSignaturePolicy.taintNote(for: unsigned.path, sysfs: root.path))
        let check = ModuleSignatureCheck(sysfs: root.path)
        // Any relocatable object will do as the module's .modinfo: the check reads the file at modulePath.
        let source = try make("m.c", "int kpatch_sig;\n"), object = root.appendingPathComponent("m.o")
        try runChecked(["gcc", "-c", source.path, "-o", object.path])
        let info = try KernelModuleFile(path: object.path)
        let context = { (path: String) in PreflightContext(modulePath: path, module: info) }
        let refusal = try XCTUnwrap(check.check(context(unsigned.path)))
        XCTAssertEqual(refusal.check, "module-signature")
        XCTAssertTrue(refusal.reason.contains("module.sig_enforce=1") && refusal.reason.contains(unsigned.path), refusal.reason)
        XCTAssertTrue(refusal.advice.contains("sign-file"), refusal.advice)
        XCTAssertNil(check.check(context(signed.path)))
        // An unreadable module under enforcement refuses (fails closed), naming it.
        XCTAssertTrue(check.check(context(root.appendingPathComponent("missing.ko").path))?.reason.contains("missing.ko") == true)
    }
}
