import Foundation

/// The checkout, the pinned target kernel and the test-bed cache, as the scripts
/// see them (scripts/lib.sh). The pin is scripts/target-kernel.env (Debian 12's 6.1)
/// unless `KPATCH_KERNEL_PIN` names another pin file; a test class that runs on another
/// kernel makes its own bed (`TestBed(pin: TestBed.pin612)`), the rest stay on `shared`.
public struct TestBed {
    public let root: URL
    /// The pin file read (scripts/target-kernel*.env).
    public let pin: URL
    public let kernelRelease: String
    public let kernelVersion: String

    public static let shared: TestBed = {
        do { return try TestBed() } catch { fatalError("test bed: \(error)") }
    }()

    /// Debian 13's 6.12 (trixie, gcc-14): scripts/target-kernel-6.12.env.
    public static let pin612 = "scripts/target-kernel-6.12.env"
    /// Debian 12's bookworm-backports 6.12 (IBT, host gcc-12): scripts/target-kernel-6.12-bpo.env.
    public static let pin612bpo = "scripts/target-kernel-6.12-bpo.env"

    /// The bed of `pin` (a path relative to the checkout, or absolute); nil: `KPATCH_KERNEL_PIN`,
    /// else scripts/target-kernel.env.
    public init(pin: String? = nil) throws {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            guard dir.path != "/" else { throw TestBedError.noCheckout }
            dir.deleteLastPathComponent()
        }
        root = dir
        let name = pin ?? ProcessInfo.processInfo.environment["KPATCH_KERNEL_PIN"] ?? "scripts/target-kernel.env"
        let file = name.hasPrefix("/") ? URL(fileURLWithPath: name) : dir.appendingPathComponent(name)
        self.pin = file
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch { throw TestBedError.badPin(file.path, "\(error)") }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard let release = values["KPATCH_KERNEL_RELEASE"], let version = values["KPATCH_KERNEL_VERSION"] else {
            throw TestBedError.badPin(file.path, "no KPATCH_KERNEL_RELEASE/VERSION in:\n\(text)")
        }
        kernelRelease = release
        kernelVersion = version
    }

    /// Debian 12's own 6.1 (bookworm): built against the host's installed headers with the
    /// host's compiler. Any other release uses headers unpacked into the test bed.
    public var isHostKernel: Bool { kernelRelease.hasPrefix("6.1.0-") }
    /// The Debian release whose toolchain built the kernel (scripts/lib.sh KPATCH_KERNEL_DIST).
    public var toolchainDist: String { kernelRelease.contains("+deb13-") ? "trixie" : "bookworm" }

    /// The target's Kbuild tree from the pinned linux-headers package.
    public var headers: URL {
        isHostKernel ? URL(fileURLWithPath: "/usr/src/linux-headers-\(kernelRelease)")
            : kernelDir.appendingPathComponent("headers/usr/src/linux-headers-\(kernelRelease)")
    }
    public var cache: URL {
        if let dir = ProcessInfo.processInfo.environment["KPATCH_TESTBED"] { return URL(fileURLWithPath: dir) }
        return root.appendingPathComponent(".testbed")
    }
    public var kernelDir: URL { cache.appendingPathComponent("kernel/\(kernelRelease)") }
    public var debugVmlinux: URL { kernelDir.appendingPathComponent("dbg/vmlinux-\(kernelRelease)") }
    public var modulesDir: URL {
        // Debian 13's packages ship modules under /usr/lib (merged /usr).
        let merged = kernelDir.appendingPathComponent("image/usr/lib/modules/\(kernelRelease)")
        return FileManager.default.fileExists(atPath: merged.path) ? merged
            : kernelDir.appendingPathComponent("image/lib/modules/\(kernelRelease)")
    }
    /// Debian's linux-source tarball of the release, unpacked by scripts/fetch-kernel --source.
    public var sourceTarball: URL {
        let series = kernelRelease.split(separator: ".").prefix(2).joined(separator: ".")
        return kernelDir.appendingPathComponent("source/usr/src/linux-source-\(series).tar.xz")
    }
    /// The kernel's compiler as its config names it (`CONFIG_CC_VERSION_TEXT`).
    public func compilerText() throws -> String {
        let config = try String(contentsOf: headers.appendingPathComponent(".config"), encoding: .utf8)
        guard let line = config.split(separator: "\n").first(where: { $0.hasPrefix("CONFIG_CC_VERSION_TEXT=") }) else {
            throw TestBedError.fixture("\(headers.path)/.config names no CONFIG_CC_VERSION_TEXT")
        }
        return String(line.dropFirst("CONFIG_CC_VERSION_TEXT=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
    /// Whether Kbuild of this kernel must run in the build root (scripts/buildroot): the host
    /// lacks the kernel's compiler (scripts/lib.sh kpatch_host_has_compiler).
    public func needsBuildRoot() throws -> Bool {
        let text = try compilerText()
        let cc = String(text.prefix { $0 != " " })
        let version = try runCommand([cc, "--version"])
        return version.status != 0 || version.output.split(separator: "\n").first.map(String.init) != text
    }
    /// `argv` run with the kernel's own compiler: as is, or in the build root.
    public func inToolchain(_ argv: [String]) throws -> [String] {
        try needsBuildRoot() ? [script("buildroot").path, "--pin", pin.path, "run", "--"] + argv : argv
    }
    /// Fails with what is missing and the commands that make it, when the test bed lacks this
    /// kernel (its image, headers, debug vmlinux, source) or, for a compiler the host lacks,
    /// the build root. Tests on a second kernel call it first: they fail, never skip.
    public func requireKernel() throws {
        let fm = FileManager.default
        var missing: [String] = []
        for (what, url) in [("image", vmlinuz), ("headers", headers.appendingPathComponent(".config")),
                            ("debug vmlinux", debugVmlinux), ("source", sourceTarball)] where !fm.fileExists(atPath: url.path) {
            missing.append("\(what) \(url.path)")
        }
        let root = cache.appendingPathComponent("buildroot/\(toolchainDist)")
        if missing.isEmpty, try needsBuildRoot(), !fm.fileExists(atPath: root.appendingPathComponent(".kpatch-buildroot").path) {
            missing.append("build root \(root.path) (scripts/buildroot --pin \(pin.path) create)")
        }
        guard missing.isEmpty else {
            throw TestBedError.fixture("""
                the test bed \(cache.path) lacks kernel \(kernelRelease): \(missing.joined(separator: "; ")). \
                Make it with: KPATCH_TESTBED=\(cache.path) scripts/fetch-kernel --pin \(pin.path) --dbg --source \
                && scripts/buildroot --pin \(pin.path) create (scripts/setup provisions both)
                """)
        }
    }
    public var vmlinuz: URL { kernelDir.appendingPathComponent("image/boot/vmlinuz-\(kernelRelease)") }
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
    case badPin(String, String)
    case commandFailed(String, Int32, String)
    /// A fixture is not what the test expects.
    case fixture(String)

    public var description: String {
        switch self {
        case .noCheckout: return "no Package.swift above the test sources"
        case .badPin(let file, let why): return "pin file \(file): \(why)"
        case .commandFailed(let cmd, let rc, let out): return "\(cmd) exited \(rc):\n\(out)"
        case .fixture(let why): return why
        }
    }
}
