import Foundation
import XCTest
import TestSupport
@testable import KernelRuntime
@testable import PatchModel

/// The install store on real patch modules built by kpatchctl (examples/kpvictim);
/// nothing is loaded here: load-installed's kernel side is the VM test's.
final class PatchStoreTests: XCTestCase {
    /// Two patches built once for the class: livepatch_store_b and livepatch_store_a.
    private static var patches: [String: URL] = [:]
    private var root: URL!
    private let release = TestBed.shared.kernelRelease

    override class func setUp() {
        super.setUp()
        let bed = TestBed.shared
        guard let work = try? bed.scratch("store-patches"),
              let victim = try? KbuildModule().build("store-victim", sources: bed.root.appendingPathComponent("examples/kpvictim"))
        else { return }
        for name in ["livepatch_store_a", "livepatch_store_b"] {
            let output = work.appendingPathComponent("\(name).ko")
            let result = try? KpatchctlBinary().buildModulePatch(
                diff: bed.root.appendingPathComponent("examples/kpvictim/fix.diff"), moduleSource: victim,
                output: output, cache: work.appendingPathComponent("cache"), extra: ["--name", name])
            if result?.status == 0 { patches[name] = output }
        }
    }

    override func setUpWithError() throws {
        root = try TestBed.shared.scratch("store")
        XCTAssertEqual(Self.patches.count, 2, "the class's patch builds failed")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private var store: PatchStore { PatchStore(root: root.path + "/state") }
    private func patch(_ name: String) throws -> URL { try XCTUnwrap(Self.patches[name]) }

    /// Every file under the store, with its bytes: "nothing changed" compares these.
    private func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        let base = root.appendingPathComponent("state")
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return files }
        for case let rel as String in walker {
            let url = base.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue {
                files[rel] = try Data(contentsOf: url)
            }
        }
        return files
    }

    func testInstallListUninstallRoundTrip() throws {
        let source = try patch("livepatch_store_a")
        let installed = try store.install(path: source.path, release: release, system: nil)
        XCTAssertEqual(installed.name, "livepatch_store_a")
        XCTAssertEqual(installed.sequence, 1)
        XCTAssertEqual(installed.release, release)
        XCTAssertTrue(installed.functions.contains("kpvictim:kpvictim_sum.constprop.0,1") || installed.functions.contains { $0.hasPrefix("kpvictim:kpvictim_sum") },
                      "\(installed.functions)")
        XCTAssertEqual(try store.releases(), [release])
        XCTAssertEqual(try store.installed(release: release), [installed])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: store.modulePath(installed))), try Data(contentsOf: source))
        // The stored copy is itself a patch module with the same metadata.
        XCTAssertEqual(try KernelModuleFile(path: store.modulePath(installed)).patchMetadata().patchName, "livepatch_store_a")

        let removed = try store.uninstall(name: "livepatch_store_a", release: release)
        XCTAssertEqual(removed, installed)
        XCTAssertEqual(try store.installed(release: release), [])
        XCTAssertEqual(try snapshot(), [:])
        XCTAssertThrowsError(try store.uninstall(name: "livepatch_store_a", release: release)) { error in
            XCTAssertTrue("\(error)".contains("no patch named livepatch_store_a is installed"), "\(error)")
        }
    }

    func testPatchForAnotherReleaseIsRefusedAndNothingChanges() throws {
        try store.install(path: try patch("livepatch_store_b").path, release: release, system: nil)
        let before = try snapshot()
        XCTAssertThrowsError(try store.install(path: try patch("livepatch_store_a").path, release: "6.1.0-99-amd64", system: nil)) { error in
            guard case PatchStoreError.wrongRelease(_, let patchRelease, "6.1.0-99-amd64")? = error as? PatchStoreError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(patchRelease, self.release)
            XCTAssertTrue("\(error)".contains("nothing was installed"), "\(error)")
        }
        XCTAssertEqual(try snapshot(), before)
        XCTAssertEqual(try store.releases(), [release])
    }

    func testRunningKernelMismatchIsRefused() throws {
        // The running release, but another vermagic (preempt model): the full identity check refuses.
        let system = RunningKernelIdentity(release: release, machine: "x86_64", vmlinuxBuildID: nil,
                                           vermagic: "\(release) SMP preempt_rt mod_unload modversions ", root: "/nonexistent")
        XCTAssertThrowsError(try store.install(path: try patch("livepatch_store_a").path, release: release, system: system)) { error in
            guard case PatchStoreError.identity(_, let mismatches)? = error as? PatchStoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(mismatches.map(\.kind), [.vermagic])
        }
        XCTAssertEqual(try snapshot(), [:])
    }

    func testCorruptFilesAreRefusedAndNothingChanges() throws {
        try store.install(path: try patch("livepatch_store_b").path, release: release, system: nil)
        let before = try snapshot()
        let bytes = try Data(contentsOf: try patch("livepatch_store_a"))
        let truncated = root.appendingPathComponent("truncated.ko")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        let garbage = root.appendingPathComponent("garbage.ko")
        try Data("not a module\n".utf8).write(to: garbage)
        for bad in [truncated, garbage, root.appendingPathComponent("missing.ko")] {
            XCTAssertThrowsError(try store.install(path: bad.path, release: release, system: nil)) { error in
                guard case PatchStoreError.badModule(let path, _)? = error as? PatchStoreError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, bad.path)
            }
            XCTAssertEqual(try snapshot(), before, bad.lastPathComponent)
        }
    }

    func testDuplicateNameIsRefusedAndNothingChanges() throws {
        let first = try store.install(path: try patch("livepatch_store_a").path, release: release, system: nil)
        let before = try snapshot()
        XCTAssertThrowsError(try store.install(path: try patch("livepatch_store_a").path, release: release, system: nil)) { error in
            guard case PatchStoreError.duplicate("livepatch_store_a", _)? = error as? PatchStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("kpatchctl uninstall livepatch_store_a"), "\(error)")
        }
        XCTAssertEqual(try snapshot(), before)
        XCTAssertEqual(try store.installed(release: release), [first])
    }

    func testFailedWriteLeavesNoFile() throws {
        // A store whose release directory cannot be created (a file is in the way).
        let blocked = PatchStore(root: root.appendingPathComponent("file").path)
        try Data("x".utf8).write(to: root.appendingPathComponent("file"))
        XCTAssertThrowsError(try blocked.install(path: try patch("livepatch_store_a").path, release: release, system: nil)) { error in
            XCTAssertTrue("\(error)".contains("create directory \(self.root.path)/file/\(self.release)") || "\(error)".contains("create directory"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("file")), Data("x".utf8))
    }

    /// Applies by adding to a set: the plan and the store only, no kernel.
    final class FakeLoader: InstalledPatchLoader {
        var loaded: Set<String> = []
        var applied: [String] = []
        func loadedPatches() throws -> Set<String> { loaded }
        func apply(_ patch: InstalledPatch, modulePath: String) throws -> ControllerReport {
            XCTAssertTrue(FileManager.default.fileExists(atPath: modulePath), modulePath)
            applied.append(patch.name)
            loaded.insert(patch.name)
            return ControllerReport(patch: patch.name, direction: .patching, outcome: .completed, loadSeconds: 0,
                                    transitionSeconds: 0, reverseSeconds: nil, unloaded: false, blockers: [],
                                    record: TransitionRecord(patch: patch.name, direction: .patching, startedAt: 0, tracking: "test"))
        }
    }

    func testPatchesBeforeTheLastCumulativeOneAreSuperseded() throws {
        func record(_ name: String, _ sequence: Int, cumulative: Bool) -> InstalledPatch {
            let meta = PatchMetadata(arch: "x86_64", kernelRelease: release, vermagic: "", targets: [], patchName: name,
                                     createdAt: 0, diffSHA256: "", functions: [], toolVersion: "t", replace: cumulative)
            return InstalledPatch(name: name, release: release, sequence: sequence, installedAt: 0, installedFrom: "", metadata: meta)
        }
        let installed = [record("a", 1, cumulative: false), record("b", 2, cumulative: true),
                         record("c", 3, cumulative: false), record("d", 4, cumulative: true), record("e", 5, cumulative: false)]
        XCTAssertEqual(LoadInstalledPlan.make(installed: installed, loaded: []).map(\.action),
                       [.superseded, .superseded, .superseded, .apply, .apply])
        // After d replaced the loaded ones, a second run leaves them out and d loaded.
        XCTAssertEqual(LoadInstalledPlan.make(installed: installed, loaded: ["d", "e"]).map(\.action),
                       [.superseded, .superseded, .superseded, .alreadyLoaded, .alreadyLoaded])
        // A patch loaded before the cumulative one is installed: its apply replaces it.
        XCTAssertEqual(LoadInstalledPlan.make(installed: installed, loaded: ["a"]).map(\.action),
                       [.alreadyLoaded, .superseded, .superseded, .apply, .apply])
    }

    func testLoadInstalledAppliesInInstallOrderAndIsIdempotent() throws {
        // Installed b first, then a: install order, not name order.
        try store.install(path: try patch("livepatch_store_b").path, release: release, system: nil)
        try store.install(path: try patch("livepatch_store_a").path, release: release, system: nil)
        let loader = FakeLoader()
        let run = LoadInstalled(store: store, release: release)
        let first = try run.run(loader: loader)
        XCTAssertEqual(loader.applied, ["livepatch_store_b", "livepatch_store_a"])
        XCTAssertEqual(first.patches.map(\.action), [.apply, .apply])
        XCTAssertEqual(first.applied.count, 2)
        let second = try run.run(loader: loader)
        XCTAssertEqual(loader.applied, ["livepatch_store_b", "livepatch_store_a"], "the second run applied again")
        XCTAssertEqual(second.patches.map(\.action), [.alreadyLoaded, .alreadyLoaded])
        // Another release's patches are not touched.
        XCTAssertEqual(try LoadInstalled(store: store, release: "6.1.0-99-amd64").run(loader: loader).patches.count, 0)
    }
}
