import Foundation
import XCTest
import TestSupport
import PatchModel

/// Builds that end badly (SIGKILL at any stage, SIGTERM, two at once) leave a cache
/// the next build uses as it is: the prepared tree never holds a patched source,
/// and its original objects are those an uninterrupted cache gives.
final class InterruptedBuildTests: XCTestCase {
    private let bed = TestBed.shared
    private var cmdlineDiff: URL { bed.root.appendingPathComponent("examples/vmlinux/cmdline.diff") }

    /// A `kpatchctl build` running in the background, its output in a file.
    private final class RunningBuild {
        let process = Process()
        let log: URL

        init(_ arguments: [String], log: URL) throws {
            self.log = log
            try Data().write(to: log)
            let handle = try FileHandle(forWritingTo: log)
            process.executableURL = TestBed.shared.releaseBinary
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Waits until the output contains `marker`; false if the build ended first. The
        /// timeout only catches a hung build: preparing a tree took over 600 s at load 12.
        func wait(for marker: String, timeout: TimeInterval = 2400) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if output.contains(marker) { return true }
                if !process.isRunning { return output.contains(marker) }
                usleep(20_000)
            }
            return false
        }

        func finish() -> Int32 {
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    private func buildArguments(_ diff: URL, cache: URL, output: URL) -> [String] {
        ["build", diff.path, "--kernel", bed.kernelRelease, "--vmlinux", bed.debugVmlinux.path,
         "--modules-dir", bed.modulesDir.path, "--modules-debug-dir", bed.modulesDebugDir.path,
         "--cache", cache.path, "-o", output.path]
    }

    private func cmdlineSource(in cache: URL) throws -> String {
        try String(contentsOf: cache.appendingPathComponent("kernels/\(bed.kernelRelease)/tree/fs/proc/cmdline.c"), encoding: .utf8)
    }

    /// Kills the build with SIGKILL (kpatchctl alone, as `kill -9 PID` does) once
    /// `marker` shows the stage has begun, and waits for the lock's next holder to
    /// be able to go on.
    private func killBuild(at marker: String, delay: useconds_t, cache: URL, work: URL, label: String) throws {
        let build = try RunningBuild(buildArguments(cmdlineDiff, cache: cache, output: work.appendingPathComponent("\(label).ko")),
                                     log: work.appendingPathComponent("\(label).log"))
        XCTAssertTrue(build.wait(for: marker), "\(label): never saw '\(marker)':\n\(build.output)")
        usleep(delay)
        kill(build.process.processIdentifier, SIGKILL)
        XCTAssertEqual(build.finish(), SIGKILL, "\(label): \(build.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("\(label).ko").path))
    }

    func testSIGKILLAtEachStageLeavesACacheTheNextBuildUsesAndFreshCacheObjects() throws {
        let work = try bed.scratch("killed-builds")
        defer { try? FileManager.default.removeItem(at: work) }
        let cache = work.appendingPathComponent("cache")
        // prepare (unpacking), original-build (make of the original object), rebuild (make in the
        // overlay), link (Kbuild of the patch module).
        try killBuild(at: "[prepare] unpacking", delay: 1_500_000, cache: cache, work: work, label: "prepare")
        try killBuild(at: "[patch] done", delay: 300_000, cache: cache, work: work, label: "original")
        try killBuild(at: "[original-build] done", delay: 300_000, cache: cache, work: work, label: "rebuild")
        try killBuild(at: "[kthread-analysis] done", delay: 200_000, cache: cache, work: work, label: "link")

        let after = try KpatchctlBinary().run(buildArguments(cmdlineDiff, cache: cache, output: work.appendingPathComponent("after.ko")))
        XCTAssertEqual(after.status, 0, after.output)
        XCTAssertTrue(after.output.contains("cmdline_proc_show"), after.output)
        XCTAssertFalse(after.output.contains("already applied"), after.output)
        // The cached tree holds the pristine source: the diff's removed line, not its added one.
        let source = try cmdlineSource(in: cache)
        XCTAssertTrue(source.contains("\tseq_putc(m, '\\n');"), source)
        XCTAssertFalse(source.contains("kpatchctl=live"), source)
        // The same original as an uninterrupted cache gives: the test bed's shared cache, made
        // by builds nobody killed. Its tree is at another path, which only DWARF records, so
        // every section but the debug ones must be byte-identical (a third prepared tree at
        // this path cost minutes).
        let reference = try KpatchctlBinary().buildKernelPatch(diff: cmdlineDiff, output: work.appendingPathComponent("reference.ko"))
        XCTAssertEqual(reference.status, 0, reference.output)
        let object = "kernels/\(bed.kernelRelease)/tree/fs/proc/cmdline.o"
        let survivor = try nonDebugSections(cache.appendingPathComponent(object))
        XCTAssertFalse(survivor.isEmpty)
        XCTAssertEqual(survivor, try nonDebugSections(bed.buildCache.appendingPathComponent(object)),
                       "the original object after the killed builds differs from an uninterrupted cache's")
    }

    /// Section name -> bytes, for every section but DWARF's (and its relocations).
    private func nonDebugSections(_ url: URL) throws -> [String: [UInt8]] {
        let elf = try ELFObject(url: url)
        var sections: [String: [UInt8]] = [:]
        for section in elf.sections where !section.name.hasPrefix(".debug") && !section.name.hasPrefix(".rela.debug") {
            sections[section.name, default: []] += try elf.data(of: section)
        }
        return sections
    }

    func testSIGTERMStopsTheBuildWithExit143AndTheNextBuildSucceeds() throws {
        let work = try bed.scratch("sigterm-build")
        defer { try? FileManager.default.removeItem(at: work) }
        let output = work.appendingPathComponent("p.ko")
        let build = try RunningBuild(buildArguments(cmdlineDiff, cache: bed.buildCache, output: output),
                                     log: work.appendingPathComponent("build.log"))
        XCTAssertTrue(build.wait(for: "[original-build] done"), build.output)
        build.process.terminate()  // SIGTERM, as timeout(1) and systemd send
        XCTAssertEqual(build.finish(), 143, build.output)
        XCTAssertTrue(build.output.contains("interrupted by SIGTERM"), build.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
        XCTAssertFalse(try cmdlineSource(in: bed.buildCache).contains("kpatchctl=live"))

        let again = try KpatchctlBinary().buildKernelPatch(diff: cmdlineDiff, output: output)
        XCTAssertEqual(again.status, 0, again.output)
    }

    func testTwoConcurrentBuildsOfDifferentDiffsForOneReleaseBothSucceed() throws {
        let work = try bed.scratch("concurrent-builds")
        defer { try? FileManager.default.removeItem(at: work) }
        let uname = bed.root.appendingPathComponent("examples/vmlinux/newuname-syscall.diff")
        let first = try RunningBuild(buildArguments(cmdlineDiff, cache: bed.buildCache, output: work.appendingPathComponent("cmdline.ko")),
                                     log: work.appendingPathComponent("cmdline.log"))
        let second = try RunningBuild(buildArguments(uname, cache: bed.buildCache, output: work.appendingPathComponent("uname.ko")),
                                      log: work.appendingPathComponent("uname.log"))
        XCTAssertEqual(first.finish(), 0, first.output)
        XCTAssertEqual(second.finish(), 0, second.output)
        // Each patch carries its own diff's functions and nothing of the other's.
        let cmdline = try KpatchctlBinary().run(["info", work.appendingPathComponent("cmdline.ko").path])
        let unamePatch = try KpatchctlBinary().run(["info", work.appendingPathComponent("uname.ko").path])
        XCTAssertTrue(cmdline.output.contains("cmdline_proc_show"), cmdline.output)
        XCTAssertFalse(cmdline.output.contains("newuname"), cmdline.output)
        XCTAssertTrue(unamePatch.output.contains("newuname"), unamePatch.output)
        XCTAssertFalse(unamePatch.output.contains("cmdline_proc_show"), unamePatch.output)
    }
}
