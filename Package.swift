// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "kpatchctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kpatchctl", targets: ["kpatchctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // libelf + libdw + libdwfl, from Debian's -dev packages.
        .systemLibrary(
            name: "CElf",
            pkgConfig: "libdw",
            providers: [.apt(["libelf-dev", "libdw-dev"])]
        ),
        // finit_module(2)/delete_module(2) wrappers: Swift cannot call variadic syscall(2).
        .target(name: "CKernel"),
        // Pure logic: ELF model, differ, patch format, call graph, parsers. No process spawning.
        .target(name: "PatchCore", dependencies: [
            "CElf",
            "CKernel",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Orchestration: source trees, Kbuild, caches, linking the patch module.
        .target(name: "PatchBuild", dependencies: ["PatchCore"]),
        .executableTarget(
            name: "kpatchctl",
            dependencies: [
                "PatchCore",
                "PatchBuild",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks: commands that print figures (docs/BENCHMARKS.md).
        .executableTarget(
            name: "kpatchctl-bench",
            dependencies: [
                "PatchCore",
                "PatchBuild",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Shared by the test targets: the pinned kernel, the test VM, Kbuild of fixtures.
        .target(name: "TestSupport", dependencies: ["PatchCore"], path: "Tests/TestSupport"),
        .testTarget(name: "PatchCoreTests", dependencies: ["PatchCore", "TestSupport"]),
        .testTarget(name: "PatchBuildTests", dependencies: ["PatchBuild", "PatchCore", "TestSupport"]),
        .testTarget(name: "VMTests", dependencies: ["PatchCore", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

// Fuzz targets (scripts/fuzz): declared only for its build, which uses -sanitize=fuzzer
// and its own scratch path (.build-fuzz), so a normal `swift build` never sees them.
if Context.environment["KPATCH_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "kpatchctl-fuzz", dependencies: ["PatchCore"]))
}
