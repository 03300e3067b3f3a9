import FoundationEssentials
import XCTest
import TestSupport
import PatchModel
@testable import PatchBuild

/// The patch module linked by the release's recorded Kbuild commands (`PatchModuleLinkRecipe`,
/// the default) is the module `make M=` links: the same fix built both ways (`--link-with make`)
/// gives the same sections in the same order with the same headers, the same symbols, the same
/// bytes in `.modinfo` and `__versions`, and the same bytes and relocations in every other
/// section. What may differ, and only there: the build's directory name
/// (`kpatchctl-build-XXXXXXXX`, in DWARF), the order of DWARF's merged strings (`ld -r` lays
/// them out by hash, so two make runs in two directories differ the same way; relocations into
/// them are compared by the string they point at), the GNU build id (a hash over all of it), and
/// the metadata's creation time (`.note.kpatchctl`, compared decoded with the time left out). For a 6.1 vmlinux fix, a 6.1
/// module fix and a 6.12 module fix built in trixie's build root.
final class LinkRecipeTests: XCTestCase {
    private let bed = TestBed.shared

    func test61VmlinuxFixLinksAsMakeDoes() throws {
        guard bed.isHostKernel else { throw XCTSkip("the vmlinux case runs on the pinned 6.1") }
        let work = try bed.scratch("link-recipe-vmlinux")
        defer { try? FileManager.default.removeItem(at: work) }
        let diff = bed.root.appendingPathComponent("examples/vmlinux/cmdline.diff")
        let request = { (output: String) in
            BuildRequest(target: .kernel(KernelTargetOptions(modulesDir: self.bed.modulesDir, modulesDebugDir: self.bed.modulesDebugDir)),
                         diffFile: diff, kernelRelease: self.bed.kernelRelease, vmlinux: self.bed.debugVmlinux,
                         output: work.appendingPathComponent(output), cache: BuildCache(root: self.bed.buildCache),
                         templateDir: self.bed.root.appendingPathComponent("kmod"), toolVersion: "test")
        }
        try assertBothWaysAlike(request)
    }

    func test61ModuleFixLinksAsMakeDoes() throws {
        guard bed.isHostKernel else { throw XCTSkip("the 6.1 module case runs on the pinned 6.1") }
        try assertKpvictimFixAlike(release: bed.kernelRelease, label: "link-recipe-module")
    }

    func test612TrixieFixLinksAsMakeDoesInTheBuildRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("the build root needs root (chroot); CI runs as root") }
        let root = bed.cache.appendingPathComponent("buildroot/trixie/.kpatch-buildroot")
        guard FileManager.default.fileExists(atPath: root.path) else {
            throw XCTSkip("no trixie build root in the test bed (scripts/setup --kernel-6.12)")
        }
        let release = try TestBed(pin: TestBed.pin612).kernelRelease
        let store = KernelPackageStore(root: bed.cache)
        guard let kernel = DebianKernelRelease(release), store.has(.headers, kernel), store.has(.debug, kernel) else {
            throw XCTSkip("no \(release) headers and debug vmlinux in \(bed.cache.path) (scripts/setup --kernel-6.12)")
        }
        try assertKpvictimFixAlike(release: release, label: "link-recipe-612")
    }

    /// A recipe that cannot be recorded is cached as such, and make links.
    func testUnrecordableRunsAreRefusedWithTheirReason() throws {
        let work = try bed.scratch("link-recipe-refused")
        defer { try? FileManager.default.removeItem(at: work) }
        let probe = work.appendingPathComponent("link-probe")
        try FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)
        try "cmd_x := something\n".write(to: probe.appendingPathComponent(".unexpected.o.cmd"), atomically: true, encoding: .utf8)
        guard case .failure(let reason) = PatchModuleLinkRecipe.record(probe: probe, objects: ["kpatch-patch.o"], makeOutput: "",
                                                                           key: "k", work: work) else {
            return XCTFail("a run with a step the recipe does not replay was recorded")
        }
        XCTAssertTrue(reason.reason.contains(".unexpected.o.cmd"), reason.reason)
        let file = work.appendingPathComponent("link-recipe.json")
        try PatchModuleLinkRecipe.save(.failure(reason), key: "k", to: file)
        guard case .unavailable(let cached) = try PatchModuleLinkRecipe.load(from: file, key: "k") else {
            return XCTFail("the refusal was not cached")
        }
        XCTAssertEqual(cached, reason.reason)
        guard case .missing = try PatchModuleLinkRecipe.load(from: file, key: "other headers") else {
            return XCTFail("a recipe recorded for other headers was used")
        }
    }

    private func assertKpvictimFixAlike(release: String, label: String) throws {
        let work = try bed.scratch(label)
        defer { try? FileManager.default.removeItem(at: work) }
        let victim = work.appendingPathComponent("kpvictim")
        try FileManager.default.copyItem(at: bed.root.appendingPathComponent("examples/kpvictim"), to: victim)
        let request = { (output: String) in
            var r = BuildRequest(target: .module(ModuleTargetOptions(moduleSource: victim)), diffFile: victim.appendingPathComponent("fix.diff"),
                                 kernelRelease: release, output: work.appendingPathComponent(output),
                                 cache: BuildCache(root: work.appendingPathComponent("cache")),
                                 templateDir: self.bed.root.appendingPathComponent("kmod"), toolVersion: "test")
            r.packages = self.bed.cache
            return r
        }
        try assertBothWaysAlike(request)
    }

    /// Builds the fix with the recorded commands, then with make, and compares the modules.
    private func assertBothWaysAlike(_ request: (String) -> BuildRequest) throws {
        let fast = try PatchBuildPipeline(request: request("recorded.ko")).build()
        XCTAssertEqual(fast.linker, .recordedCommands)
        var viaMake = request("make.ko")
        viaMake.linker = .make
        let made = try PatchBuildPipeline(request: viaMake).build()
        XCTAssertEqual(made.linker, .make)
        try assertSameModule(URL(fileURLWithPath: fast.output), URL(fileURLWithPath: made.output))
    }

    private func assertSameModule(_ fastURL: URL, _ makeURL: URL) throws {
        let fast = try ELFObject(url: fastURL), made = try ELFObject(url: makeURL)
        func header(_ s: ELFSection) -> String {
            "\(s.name) type \(s.type) flags \(s.flags.rawValue) size \(s.size) align \(s.alignment) entsize \(s.entrySize) link \(s.link) info \(s.info)"
        }
        XCTAssertEqual(fast.sections.map(header), made.sections.map(header), "section headers")
        guard fast.sections.map(header) == made.sections.map(header) else { return }
        let fastSymbols = try fast.symbols(), madeSymbols = try made.symbols()
        let symbol = { (s: ELFSymbol) in "\(s.name) \(s.value) \(s.size) \(s.type) \(s.binding) \(s.other) \(s.sectionIndex)" }
        XCTAssertEqual(fastSymbols.map(symbol), madeSymbols.map(symbol), "symbols")
        XCTAssertEqual(try fast.data(of: fast.requireSection(named: ".modinfo")), try made.data(of: made.requireSection(named: ".modinfo")), ".modinfo")
        XCTAssertEqual(try fast.data(of: fast.requireSection(named: "__versions")), try made.data(of: made.requireSection(named: "__versions")), "__versions")
        var fastMeta = try KernelModuleFile(path: fastURL.path).patchMetadata()
        var madeMeta = try KernelModuleFile(path: makeURL.path).patchMetadata()
        fastMeta.createdAt = 0
        madeMeta.createdAt = 0
        XCTAssertEqual(fastMeta, madeMeta, "patch metadata (but its creation time)")

        // Every other section: the same bytes, but for the build directory's name, and, in
        // DWARF's merged string sections (`ld -r` lays them out by a hash of the strings, which
        // the directory name changes), the order of the strings. Relocations into those are
        // compared by the string they point at.
        let mergedStrings = { (o: ELFObject, s: ELFSection) in s.flags.contains(.merge) && s.flags.contains(.strings) }
        func strings(_ o: ELFObject, _ s: ELFSection) throws -> [String] {
            try o.data(of: s).split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: Self.withoutBuildDirectory(Array($0)), as: UTF8.self) }
        }
        func relocations(_ o: ELFObject, _ symbols: [ELFSymbol], _ s: ELFSection) throws -> [String] {
            try o.relocations(in: s).map { r in
                let target = symbols[r.symbolIndex]
                if target.type == .section, let section = try? o.section(at: Int(target.sectionIndex)), mergedStrings(o, section) {
                    let bytes = try o.data(of: section).dropFirst(Int(target.value) + Int(r.addend))
                    let string = String(decoding: Self.withoutBuildDirectory(Array(bytes.prefix { $0 != 0 })), as: UTF8.self)
                    return "\(r.offset) \(r.type) \(section.name)+\"\(string)\""
                }
                return "\(r.offset) \(r.type) \(r.symbolIndex) \(r.addend)"
            }
        }
        var differing: [String] = []
        var reordered: [String] = []
        for (a, b) in zip(fast.sections, made.sections) where a.type != .null {
            if [".note.gnu.build-id", ".note.kpatchctl"].contains(a.name) { continue }
            if a.type == .rela {
                if try relocations(fast, fastSymbols, a) != relocations(made, madeSymbols, b) { differing.append(a.name) }
            } else if mergedStrings(fast, a) {
                let x = try strings(fast, a), y = try strings(made, b)
                if x != y { reordered.append(a.name) }
                if x.sorted() != y.sorted() { differing.append(a.name) }
            } else if Self.withoutBuildDirectory(try fast.data(of: a)) != Self.withoutBuildDirectory(try made.data(of: b)) {
                differing.append(a.name)
            }
        }
        XCTAssertEqual(differing, [], "sections that differ beyond the build directory's name and string order")
        XCTAssertTrue(reordered.allSatisfy { $0.hasPrefix(".debug_") }, "strings reordered outside DWARF: \(reordered)")
    }

    /// The bytes with every `kpatchctl-build-XXXXXXXX` (the build's directory) made the same.
    static func withoutBuildDirectory(_ bytes: [UInt8]) -> [UInt8] {
        let marker = Array("kpatchctl-build-".utf8)
        var out = bytes
        var i = 0
        while i + marker.count + 8 <= out.count {
            if out[i] == marker[0], Array(out[i..<i + marker.count]) == marker {
                for j in i + marker.count..<i + marker.count + 8 { out[j] = UInt8(ascii: "X") }
                i += marker.count + 8
            } else {
                i += 1
            }
        }
        return out
    }
}
