import PatchModel

/// Does a patch belong to this system? Checked before anything is loaded: a
/// patch for another release, architecture or build of its target is refused.
public enum PatchIdentityCheck {
    public struct Mismatch: Error, Codable, Equatable, CustomStringConvertible, Sendable {
        public enum Kind: String, Codable, Sendable { case arch, release, vermagic, vmlinuxBuildID = "vmlinux-build-id", moduleBuildID = "module-build-id" }
        public let kind: Kind
        public let object: String?
        public let expected: String
        public let actual: String
        public let advice: String

        public var description: String {
            "\(kind.rawValue)\(object.map { " of \($0)" } ?? ""): the patch was built for \(expected), this system has \(actual); \(advice)"
        }
    }

    /// Every mismatch between `meta` and `system`, and every check that could not
    /// be made, each with why (a target module that is not loaded is patched by the
    /// kernel when it loads; a patch without a build id cannot be matched to a build).
    public static func check(_ meta: PatchMetadata, against system: RunningKernelIdentity)
        -> (mismatches: [Mismatch], unchecked: [String])
    {
        var mismatches: [Mismatch] = []
        var unchecked: [String] = []
        let rebuild = "rebuild the patch against this kernel and target (kpatchctl build)"
        if meta.arch != system.machine {
            mismatches.append(.init(kind: .arch, object: nil, expected: meta.arch, actual: system.machine, advice: rebuild))
        }
        if meta.kernelRelease != system.release {
            mismatches.append(.init(kind: .release, object: nil, expected: meta.kernelRelease, actual: system.release,
                                    advice: "build with --kernel \(system.release)"))
        }
        // The whole string: release, SMP, preempt model, mod_unload, modversions.
        if let vermagic = system.vermagic {
            if meta.vermagic != vermagic {
                mismatches.append(.init(kind: .vermagic, object: nil, expected: meta.vermagic, actual: vermagic, advice: rebuild))
            }
        } else {
            let vermagicRelease = meta.vermagic.split(separator: " ").first.map(String.init) ?? ""
            if vermagicRelease != system.release {
                mismatches.append(.init(kind: .vermagic, object: nil, expected: meta.vermagic, actual: system.release, advice: rebuild))
            }
            unchecked.append("vermagic beyond the release: no module of the running kernel under /lib/modules/\(system.release) to read it from")
        }
        for target in meta.targets {
            guard let expected = target.buildID else {
                unchecked.append("\(target.object) build id: the patch records none")
                continue
            }
            if target.object == "vmlinux" {
                guard let actual = system.vmlinuxBuildID else {
                    unchecked.append("vmlinux build id: /sys/kernel/notes has none")
                    continue
                }
                if actual != expected {
                    mismatches.append(.init(kind: .vmlinuxBuildID, object: "vmlinux", expected: expected, actual: actual, advice: rebuild))
                }
            } else if system.isModuleLoaded(target.object) {
                let actual = system.moduleBuildID(target.object) ?? "no build id"
                if actual != expected {
                    mismatches.append(.init(kind: .moduleBuildID, object: target.object, expected: expected, actual: actual,
                                            advice: "the loaded \(target.object) is another build than the one the patch was made for: rebuild with --target-module pointing at the deployed .ko"))
                }
            } else {
                unchecked.append("\(target.object) build id: not loaded (the kernel patches it when it loads)")
            }
        }
        return (mismatches, unchecked)
    }
}
