import Foundation

/// The checkout, the pinned target kernel and the test-bed cache, as the scripts
/// see them (scripts/target-kernel.env and scripts/lib.sh).
public struct TestBed {
    public let root: URL
    public let kernelRelease: String
    public let kernelVersion: String

    public static let shared: TestBed = {
        do { return try TestBed() } catch { fatalError("test bed: \(error)") }
    }()

    public init() throws {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            guard dir.path != "/" else { throw TestBedError.noCheckout }
            dir.deleteLastPathComponent()
        }
        root = dir
        let pin = try String(contentsOf: dir.appendingPathComponent("scripts/target-kernel.env"), encoding: .utf8)
        var values: [String: String] = [:]
        for line in pin.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard let release = values["KPATCH_KERNEL_RELEASE"], let version = values["KPATCH_KERNEL_VERSION"] else {
            throw TestBedError.badPin(pin)
        }
        kernelRelease = release
        kernelVersion = version
    }

    /// The target's Kbuild tree from the pinned linux-headers package.
    public var headers: URL { URL(fileURLWithPath: "/usr/src/linux-headers-\(kernelRelease)") }
    public var cache: URL {
        if let dir = ProcessInfo.processInfo.environment["KPATCH_TESTBED"] { return URL(fileURLWithPath: dir) }
        return root.appendingPathComponent(".testbed")
    }
    public var kernelDir: URL { cache.appendingPathComponent("kernel/\(kernelRelease)") }
    public var debugVmlinux: URL { kernelDir.appendingPathComponent("dbg/vmlinux-\(kernelRelease)") }
    public var modulesDir: URL { kernelDir.appendingPathComponent("image/lib/modules/\(kernelRelease)") }
    /// Debug builds of the in-tree modules the tests use (scripts/lib.sh KPATCH_DEBUG_MODULES).
    public var modulesDebugDir: URL { kernelDir.appendingPathComponent("dbg/lib/modules/\(kernelRelease)") }
    /// The build cache shared by the tests (the prepared kernel tree lives there).
    public var buildCache: URL { cache.appendingPathComponent("build-cache") }
    public var releaseBinary: URL { root.appendingPathComponent(".build/release/kpatchctl") }
    public func script(_ name: String) -> URL { root.appendingPathComponent("scripts/\(name)") }

    /// A fresh scratch directory under the test-bed cache, removed by the caller.
    public func scratch(_ label: String) throws -> URL {
        let dir = cache.appendingPathComponent("scratch/\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

public enum TestBedError: Error, CustomStringConvertible {
    case noCheckout
    case badPin(String)
    case commandFailed(String, Int32, String)
    /// A fixture is not what the test expects.
    case fixture(String)

    public var description: String {
        switch self {
        case .noCheckout: return "no Package.swift above the test sources"
        case .badPin(let text): return "scripts/target-kernel.env lacks KPATCH_KERNEL_RELEASE/VERSION: \(text)"
        case .commandFailed(let cmd, let rc, let out): return "\(cmd) exited \(rc):\n\(out)"
        case .fixture(let why): return why
        }
    }
}
