import Foundation

/// A corpus case made into a livepatch module the way a user would: the diff
/// from orig/ to patched/, built by `kpatchctl build` against the original module
/// as deployed (so its build id is the one the patch names).
public enum LivepatchFixture {
    /// Returns (original module, livepatch module `lp_<case>`). Built once per test run
    /// for every process (`ContentStore` area `livepatch-fixtures`), keyed by the case's
    /// sources, the original module's bytes and the kpatchctl that builds it. `batch`: the
    /// cases whose builds the case's original module comes with (CorpusCase.compile).
    public static func build(caseName: String, bed: TestBed, batch: [String]? = nil) throws -> (URL, URL) {
        let corpusCase = try CorpusCase.load(caseName, bed: bed)
        let compiled = try corpusCase.compile(bed: bed, batch: batch)
        let key = ContentKey("livepatch fixture")
        try key.addKpatchctl(bed: bed)
        try key.add(tree: corpusCase.originalSources)
        try key.add(tree: corpusCase.patchedSources)
        try key.add(file: compiled.originalModule)
        let dir = try ContentStore.shared.entry("livepatch-fixtures", name: caseName, key: key, bed: bed) { dir in
            let diff = dir.appendingPathComponent("\(caseName).diff")
            // `diff -ruN orig patched`: headers orig/x.c and patched/x.c, applied with -p1.
            let result = try runCommand(["diff", "-ruN", "orig", "patched"], in: corpusCase.dir)
            guard result.status == 1 else { throw FixtureError.noDiff(caseName, result.output) }
            try result.output.write(to: diff, atomically: true, encoding: .utf8)
            let build = try KpatchctlBinary(bed: bed).buildModulePatch(
                diff: diff, moduleSource: corpusCase.dir.appendingPathComponent("orig"),
                output: dir.appendingPathComponent("lp_\(caseName).ko"),
                cache: bed.buildCache,  // the original module builds are shared by every test process
                extra: ["--name", "lp_\(caseName)", "--target-module", compiled.originalModule.path])
            guard build.status == 0 else { throw FixtureError.buildFailed(caseName, build.output) }
        }
        return (compiled.originalModule, dir.appendingPathComponent("lp_\(caseName).ko"))
    }

    public enum FixtureError: Error, CustomStringConvertible {
        case noDiff(String, String)
        case buildFailed(String, String)
        public var description: String {
            switch self {
            case .noDiff(let c, let o): return "\(c): orig/ and patched/ do not differ: \(o)"
            case .buildFailed(let c, let o): return "\(c): kpatchctl build failed:\n\(o)"
            }
        }
    }
}
