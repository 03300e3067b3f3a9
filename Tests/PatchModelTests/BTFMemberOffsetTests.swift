import Foundation
import XCTest
import TestSupport
@testable import PatchModel

/// Member offsets read from the target kernel's BTF (the .BTF section of the
/// debug vmlinux, the blob /sys/kernel/btf/vmlinux serves) against offsetof() as
/// gcc computes it with the pinned headers.
final class BTFMemberOffsetTests: XCTestCase {
    func testTaskStructOffsetsMatchTheCompiler() throws {
        let bed = TestBed.shared
        let built = try KbuildModule().build("task-offsets", sources: bed.root.appendingPathComponent("Tests/Fixtures/task-offsets"))
        defer { try? FileManager.default.removeItem(at: built) }
        var expected: [String: Int] = [:]
        let nm = try runChecked(["nm", "-S", "--defined-only", built.appendingPathComponent("task_offsets.o").path])
        for line in nm.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, fields[3].hasPrefix("kp_offset_task_struct_"), let size = Int(fields[1], radix: 16) else { continue }
            expected[String(fields[3].dropFirst("kp_offset_task_struct_".count))] = size
        }
        XCTAssertEqual(Set(expected.keys), ["pid", "tgid", "comm"], nm)

        let blob = built.appendingPathComponent("vmlinux.btf")
        try runChecked(["objcopy", "-O", "binary", "--only-section=.BTF", bed.debugVmlinux.path, blob.path])
        let btf = try BTFTypes(rawFile: blob.path)
        for (member, offset) in expected {
            XCTAssertEqual(btf.memberOffset(structure: "task_struct", member: member), offset, member)
        }
        XCTAssertNil(btf.memberOffset(structure: "task_struct", member: "no_such_member"))
        XCTAssertNil(btf.memberOffset(structure: "no_such_struct", member: "pid"))
    }

    func testRejectsBytesWithoutTheMagic() {
        XCTAssertThrowsError(try BTFTypes(bytes: Array(repeating: 0, count: 64), source: "zeros"))
        XCTAssertThrowsError(try BTFTypes(bytes: [0x9f, 0xeb], source: "short"))
    }
}
