// swift-tools-version:6.0
import PackageDescription

// What may import what (docs/ARCHITECTURE.md):
//   PatchModel <- KthreadSafety <- PatchBuild  <- kpatchctl
//                              <- KernelRuntime <-
// PatchModel touches no running system (PatchModelTests/PurityTests enforces it).
// Every Sources target builds in Swift 6 language mode (strict concurrency); the
// test targets stay in 5 (the package default below).
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "kpatchctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kpatchctl", targets: ["kpatchctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // libelf + libdw + libdwfl, from Debian's -dev packages.
        .systemLibrary(
            name: "CElf",
            pkgConfig: "libdw",
            providers: [.apt(["libelf-dev", "libdw-dev"])]
        ),
        // liblzma and zlib (liblzma-dev and zlib1g-dev come with libdw-dev): compressed
        // kernel modules (`.ko.xz`, `.ko.gz`) read in process.
        .systemLibrary(name: "CCompress", providers: [.apt(["liblzma-dev", "zlib1g-dev"])]),
        // libcrypto (libssl-dev): SHA-256 for cache keys and the diff's identity. Debian's
        // library instead of swift-crypto, whose BoringSSL copy (366 C files) was most of
        // every from-scratch build, and CI builds the package three times.
        .systemLibrary(name: "CDigest", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // finit_module(2)/delete_module(2) wrappers: Swift cannot call variadic syscall(2).
        .target(name: "CKernel"),
        // The pure model: ELF, BTF, differ, patch object, metadata, source/diff analysis,
        // call graph, .ko reader, parsers of /proc text. Reads and writes only the files
        // it is given: no syscalls, no paths of the running system, no process control.
        .target(name: "PatchModel", dependencies: [
            "CElf",
            "CCompress",
            "CDigest",
        ], swiftSettings: strict),
        // Kthread safety, build time and apply time: reachability of the replaced
        // functions, where kthreads sleep, the conversion list, the rules, stall prediction.
        .target(name: "KthreadSafety", dependencies: ["PatchModel", "CElf"], swiftSettings: strict),
        // SIGINT/SIGTERM as a flag: apply/revert end the transition cleanly, build stops its command.
        .target(name: "Interruption", swiftSettings: strict),
        // The running kernel and machine: module loading, livepatch sysfs, tracefs,
        // /proc readers, the transition controller, the lock, state files, status.
        .target(name: "KernelRuntime", dependencies: ["PatchModel", "KthreadSafety", "CKernel", "Interruption"],
                swiftSettings: strict),
        // Orchestration: Debian packages, source trees, Kbuild, caches, linking the patch module.
        .target(name: "PatchBuild", dependencies: ["PatchModel", "KthreadSafety", "Interruption"], swiftSettings: strict),
        .executableTarget(
            name: "kpatchctl",
            dependencies: [
                "PatchModel",
                "KthreadSafety",
                "KernelRuntime",
                "PatchBuild",
                "Interruption",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks: commands that print figures (docs/BENCHMARKS.md).
        .executableTarget(
            name: "kpatchctl-bench",
            dependencies: [
                "PatchModel",
                "KthreadSafety",
                "KernelRuntime",
                "PatchBuild",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Shared by the test targets: the pinned kernel, the test VM, Kbuild of fixtures.
        .target(name: "TestSupport", dependencies: ["PatchModel"],
                path: "Tests/TestSupport"),
        .testTarget(name: "PatchModelTests", dependencies: ["PatchModel", "TestSupport"]),
        .testTarget(name: "KthreadSafetyTests", dependencies: ["KthreadSafety", "PatchModel", "TestSupport"]),
        .testTarget(name: "KernelRuntimeTests", dependencies: ["KernelRuntime", "KthreadSafety", "PatchModel", "Interruption", "TestSupport"]),
        .testTarget(name: "PatchBuildTests", dependencies: ["PatchBuild", "KthreadSafety", "PatchModel", "TestSupport"]),
        .testTarget(name: "VMTests", dependencies: ["PatchModel", "KernelRuntime", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

// Fuzz targets (scripts/fuzz): declared only for its build, which uses -sanitize=fuzzer
// and its own scratch path (.build-fuzz), so a normal `swift build` never sees them.
if Context.environment["KPATCH_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "kpatchctl-fuzz", dependencies: ["PatchModel", "KthreadSafety", "KernelRuntime"],
                                             swiftSettings: strict))
}
