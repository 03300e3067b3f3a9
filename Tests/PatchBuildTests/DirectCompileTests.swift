import FoundationEssentials
import XCTest
import TestSupport
@testable import PatchBuild

/// The patched side of a build with a few objects runs the commands Kbuild recorded in the
/// prepared tree's `.x.o.cmd` instead of make (no Kbuild start-up). The object it gives is
/// byte-identical to Kbuild's; an object that exports symbols goes through make again, whose
/// genksyms step writes the `#SYMVER` CRCs a new export needs.
final class DirectCompileTests: XCTestCase {
    func testRecordedCommandsGiveKbuildsBytesAndExportersGetTheirCRCs() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("direct-compile")
        defer { try? FileManager.default.removeItem(at: work) }
        // The originals of both objects, compiled by make in the shared cache's prepared tree.
        for diff in ["cmdline", "lib-mpi-sgl"] {
            let result = try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/\(diff).diff"),
                                                                output: work.appendingPathComponent("\(diff).ko"))
            XCTAssertEqual(result.status, 0, result.output)
        }
        let cache = BuildCache(root: bed.buildCache)
        let lock = try TreeLock.kernelTree(release: bed.kernelRelease, cache: cache)
        defer { lock.release() }
        let treeDir = bed.buildCache.appendingPathComponent("kernels/\(bed.kernelRelease)/tree")
        let tree = KernelSourceTree(dir: treeDir, toolchain: .host(try KernelCompiler.read(config: treeDir.appendingPathComponent(".config"))))
        let objects = ["fs/proc/cmdline.o", "lib/mpi/mpicoder.o"]
        XCTAssertNotNil(try tree.directCompileScript(objects), "both objects have recorded commands")
        XCTAssertTrue(try KbuildRecordedCommands.exportsSymbols(treeDir.appendingPathComponent("lib/mpi/mpicoder.o")))
        XCTAssertFalse(try KbuildRecordedCommands.exportsSymbols(treeDir.appendingPathComponent("fs/proc/cmdline.o")))

        // The unchanged sources laid over the tree, as a patched build lays its files.
        let upper = work.appendingPathComponent("patched")
        for object in objects {
            let source = String(object.dropLast(2)) + ".c"
            try FileManager.default.createDirectory(at: upper.appendingPathComponent(source).deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: treeDir.appendingPathComponent(source), to: upper.appendingPathComponent(source))
        }
        let built = try tree.buildPatched(objects, upper: upper, stage: .rebuild)
        for (object, url) in zip(objects, built) {
            XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: treeDir.appendingPathComponent(object)),
                           "\(object): not the bytes Kbuild's make gave")
        }
        // Only the exporter went through make: its .cmd carries the CRCs, the other has none.
        XCTAssertEqual(try KbuildCommandFile(object: built[1]).symbolVersionLines(),
                       try KbuildCommandFile(object: objects[1], in: treeDir).symbolVersionLines())
        XCTAssertFalse(try KbuildCommandFile(object: built[1]).symbolVersionLines().isEmpty)
        XCTAssertFalse(KbuildCommandFile(object: built[0]).exists, "cmdline.o was compiled by make, not by its recorded command")
    }

    /// Which make target builds an object with its real flags: its own path in a Kbuild
    /// directory; through the directory whose Makefile compiles it otherwise (amdgpu's
    /// Makefile builds amdkfd/, display/ and pm/ through `../`).
    func testObjectsAnotherDirectoryBuildsAreAskedForThroughIt() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("build-path")
        defer { try? FileManager.default.removeItem(at: work) }
        let result = try KpatchctlBinary().buildKernelPatch(diff: bed.root.appendingPathComponent("examples/vmlinux/cmdline.diff"),
                                                            output: work.appendingPathComponent("cmdline.ko"))
        XCTAssertEqual(result.status, 0, result.output)
        let tree = bed.buildCache.appendingPathComponent("kernels/\(bed.kernelRelease)/tree")
        let amd = "drivers/gpu/drm/amd"
        for (object, target) in [
            ("\(amd)/amdkfd/kfd_process.o", "\(amd)/amdgpu/../amdkfd/kfd_process.o"),
            ("\(amd)/display/dc/core/dc.o", "\(amd)/amdgpu/../display/dc/core/dc.o"),
            ("\(amd)/pm/amdgpu_pm.o", "\(amd)/amdgpu/../pm/amdgpu_pm.o"),
            ("\(amd)/amdgpu/amdgpu_drv.o", "\(amd)/amdgpu/amdgpu_drv.o"),
            ("fs/proc/cmdline.o", "fs/proc/cmdline.o"),
            ("mm/kmemleak.o", "mm/kmemleak.o"),
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: tree.appendingPathComponent(String(object.dropLast(2)) + ".c").path), object)
            XCTAssertEqual(try KbuildBuildPath.target(of: object, in: tree), target, object)
        }
    }

    /// An out-of-tree module's patched objects: the original build's recorded commands, with
    /// the patched tree's path, give make's bytes at that path; an exporter goes through make
    /// (its .cmd then carries the CRC lines), a file the original build did not compile too.
    func testModuleObjectsFromTheOriginalsRecordedCommandsAreMakesBytes() throws {
        let bed = TestBed.shared
        let work = try bed.scratch("direct-module")
        defer { try? FileManager.default.removeItem(at: work) }
        let kernel = try TargetKernel.locate(release: bed.kernelRelease, headers: bed.headers,
                                             store: KernelPackageStore(root: bed.cache), binds: [work], note: { _ in })
        for (name, object, exports) in [("body_change", "kpc_body_change.o", false), ("module_exported_call", "kpc_module_exported_call.o", true)] {
            let sources = bed.root.appendingPathComponent("Tests/Corpus/\(name)/orig")
            let original = ModuleTree(dir: work.appendingPathComponent("\(name)-original"), kernel: kernel)
            try ModuleTree.copySources(from: sources, to: original.dir)
            try original.buildModules()
            let patched = ModuleTree(dir: work.appendingPathComponent("\(name)-patched"), kernel: kernel)
            try ModuleTree.copySources(from: sources, to: patched.dir)
            XCTAssertTrue(try patched.buildObjects([object], recordedIn: original), name)
            let direct = try Data(contentsOf: patched.dir.appendingPathComponent(object))
            XCTAssertEqual(try KbuildRecordedCommands.exportsSymbols(patched.dir.appendingPathComponent(object)), exports, name)
            XCTAssertEqual(try !KbuildCommandFile(object: object, in: patched.dir).symbolVersionLines().isEmpty, exports,
                           "\(name): an exporter is compiled by make, with its CRCs; the others by their recorded command")
            // make, at the same path, from scratch.
            try FileManager.default.removeItem(at: patched.dir)
            try ModuleTree.copySources(from: sources, to: patched.dir)
            XCTAssertFalse(try patched.buildObjects([object]), name)
            XCTAssertEqual(direct, try Data(contentsOf: patched.dir.appendingPathComponent(object)), "\(name): not the bytes make gave")
        }
    }
}
