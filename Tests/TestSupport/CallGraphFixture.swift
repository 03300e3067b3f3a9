import Foundation
import PatchModel

/// Modules compiled once per test run with the target's Kbuild: the call-graph
/// fixture (Tests/Fixtures/callgraph), the value-flow fixture (Tests/Fixtures/valueflow) and the kpvictim demo module.
/// Their scratch directories are removed when the test process exits.
public enum CompiledFixtures {
    public static let callgraph = build("callgraph", "Tests/Fixtures/callgraph")
    public static let kpvictim = build("kpvictim-cg", "examples/kpvictim")
    public static let valueflow = build("valueflow", "Tests/Fixtures/valueflow")

    private static var built: [URL] = []

    private static func build(_ label: String, _ sources: String) -> Result<URL, Error> {
        Result {
            let dir = try KbuildModule().build(label, sources: TestBed.shared.root.appendingPathComponent(sources))
            if built.isEmpty { atexit { CompiledFixtures.built.forEach { try? FileManager.default.removeItem(at: $0) } } }
            built.append(dir)
            return dir
        }
    }
}

extension CallGraph {
    /// The single node named `name` whose unit ends with `unitSuffix` (all units when nil);
    /// otherwise an error the failing test reports. (TestSupport is built in release
    /// builds too, where XCTest is not available.)
    public func node(_ name: String, unit unitSuffix: String? = nil) throws -> Int {
        let found = nodes(named: name).filter { unitSuffix == nil || unit(of: $0).hasSuffix(unitSuffix!) }
        guard found.count == 1 else {
            throw TestBedError.fixture("expected one \(name) in \(unitSuffix ?? "any unit"), found \(found.map { function($0) })")
        }
        return found[0]
    }

    public func calleeNames(of node: Int) -> Set<String> { Set(callees(of: node).map { name(of: $0.callee) }) }

    public func kind(from caller: Int, to callee: Int) -> CallKind? {
        callees(of: caller).first { $0.callee == callee }?.kind
    }
}
