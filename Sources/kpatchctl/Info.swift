import ArgumentParser
import FoundationEssentials
import PatchModel
import KthreadSafety
import KernelRuntime

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the metadata embedded in a patch module, without loading it.")

    @Argument(help: "The patch module (.ko) built by kpatchctl build.") var patch: String
    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        let file: String
        let module: String?
        let livepatch: Bool
        let modinfoVermagic: String?
        let buildID: String?
        let livepatchSymbols: [String]
        let metadata: PatchMetadata
        let kthreadAnalysis: String
        /// Built with --replace: applying it replaces every enabled patch.
        let cumulative: Bool
        /// The appended module signature (build --sign-key), nil when unsigned.
        let signature: ModuleSignature?
    }

    func run() throws {
        let module: KernelModuleFile, meta: PatchMetadata, signature: ModuleSignature?
        do {
            module = try KernelModuleFile.forLoading(path: patch)
            meta = try module.patchMetadata()
            signature = try ModuleSignaturePolicy.signature(of: patch)
        } catch {
            throw fail(error, code: .refused, json: json)
        }
        let report = Report(file: patch, module: module.name, livepatch: module.isLivepatch,
                            modinfoVermagic: module.vermagic, buildID: module.buildID,
                            livepatchSymbols: module.livepatchSymbols, metadata: meta,
                            kthreadAnalysis: KthreadAnalysisText.describe(meta), cumulative: meta.replacesAll,
                            signature: signature)
        if json { return printJSON(report) }
        print("patch:          \(meta.patchName) (\(patch))")
        print("module:         \(module.name ?? "?")\(module.isLivepatch ? "" : "  [WARNING: no livepatch=Y in modinfo]")")
        print("format:         version \(meta.formatVersion), required features 0x\(String(meta.requiredFeatures.rawValue, radix: 16)), optional 0x\(String(meta.optionalFeatures.rawValue, radix: 16))")
        print("kernel:         \(meta.kernelRelease) (\(meta.arch))")
        print("vermagic:       \(meta.vermagic)")
        for target in meta.targets {
            print("target:         \(target.object)\(target.buildID.map { " build id \($0)" } ?? " (build id not recorded)")")
        }
        print("created:        \(Date(timeIntervalSince1970: TimeInterval(meta.createdAt)))")
        print("diff sha256:    \(meta.diffSHA256)")
        print("built by:       kpatchctl \(meta.toolVersion)")
        print("toolchain:      \(meta.toolchain ?? "not recorded (built before kpatchctl recorded it)")")
        if !meta.operations.cves.isEmpty { print("fixes:          \(meta.operations.cves.joined(separator: ", "))") }
        if let about = meta.operations.description {
            print("description:    " + about.split(separator: "\n").joined(separator: "\n                "))
        }
        if let signature {
            print("signer:         \(signature.signer) (key serial \(signature.serial), \(signature.hashAlgorithm), \(signature.signatureBytes) bytes)")
        } else {
            print("signer:         none (not signed: build --sign-key KEY --sign-cert CERT signs it)")
        }
        print("cumulative:     \(meta.replacesAll ? "yes: applying it replaces every enabled livepatch (--replace)" : "no")")
        for c in meta.callbacks { print("callback:       \(c.object) \(c.kind.label) \(c.function)") }
        for s in meta.states { print("declares:       \(s)") }
        print("replaces \(meta.functions.count) function(s):")
        for f in meta.functions {
            print("  \(f.object): \(f.name)\(f.sympos > 0 ? ",\(f.sympos)" : "") -> \(f.newSymbol)\(f.reason.map { " (\($0))" } ?? "")")
        }
        print("livepatch relocation symbols: \(module.livepatchSymbols.count)")
        for s in module.livepatchSymbols { print("  \(s)") }
        print(report.kthreadAnalysis)
    }
}

/// How `info` describes the kthread analysis records.
enum KthreadAnalysisText {
    static func describe(_ meta: PatchMetadata) -> String {
        guard !meta.kthreadReachability.isEmpty else {
            return "kthread analysis: none recorded (no DWARF call graph for the patched objects)"
        }
        var lines: [String] = []
        for blob in meta.kthreadReachability {
            let reach: KthreadReachability
            do { reach = try KthreadReachability(decoding: blob) } catch {
                lines.append("kthread analysis: an unreadable record (\(blob.count) bytes): \(error)")
                continue
            }
            lines.append("kthread analysis (\(reach.source)): \(reach.functions.count - reach.targetCount) function(s) reach "
                + reach.targets.map(\.name).joined(separator: ", ") + ", which " + reach.scope.description
                + (reach.scope == .unit ? " (refused for kthreads of \(reach.targetUnit ?? "that file"), noted for the others)" : ""))
            let paths = reach.kthreadEntryPaths
            if !reach.resumeTables.isEmpty {
                lines.append("  where they sleep is known for: "
                    + reach.resumeTables.map { "\(reach.functions[$0.function].name) (\($0.points.count) points)" }.joined(separator: ", "))
            }
            if paths.isEmpty { lines.append("  no kthread entry function of that object reaches them") }
            for path in paths {
                let converted = path.first.map { KthreadConversion.loop(entry: $0.name) != nil } ?? false
                lines.append("  kthread entry\(converted ? " (converted)" : ""): " + path.callPath.map(\.name).joined(separator: " -> "))
            }
        }
        return lines.joined(separator: "\n")
    }
}
