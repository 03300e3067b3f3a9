import FoundationEssentials
import PatchModel

/// Where in its thread function each vmlinux kthread can be asleep, and which
/// calls can still run from there (`KthreadResumePoints`): the function's code
/// disassembled by objdump, its calls and inlined bodies from the debug
/// vmlinux's DWARF, the hidden edges from the kernel's tables. Results are
/// cached per build id, beside the call graph, as they do not depend on the patch.
/// objdump itself is run by the caller (`disassemble`: PatchBuild's command runner).
package final class KthreadResumeAnalysis {
    private let vmlinux: String
    private let cacheDirectory: URL?
    /// Runs objdump with these arguments: its exit status and output.
    private let disassemble: ([String]) throws -> (status: Int32, output: String)
    private var reader: FunctionLayoutReader?
    /// Read from the cache file on first use: a build that needs no points never opens it.
    private var cache: (file: URL?, points: [String: KthreadResumePoints])?
    private var dirty = false
    /// Why points could not be computed for a function (it then counts whole).
    package private(set) var failures: [String] = []

    package init(vmlinux: String, cacheDirectory: URL?, disassemble: @escaping ([String]) throws -> (status: Int32, output: String)) {
        self.vmlinux = vmlinux
        self.cacheDirectory = cacheDirectory
        self.disassemble = disassemble
    }

    private func loadedCache() throws -> (file: URL?, points: [String: KthreadResumePoints]) {
        if let cache { return cache }
        var loaded: (file: URL?, points: [String: KthreadResumePoints]) = (nil, [:])
        if let cacheDirectory, let buildID = try ELFBuildID.read(path: vmlinux) {
            loaded.file = cacheDirectory.appendingPathComponent("kthread-resume-v4-\(buildID).json")
            // A cache that does not decode is rebuilt: it only holds what this class computes.
            if let data = try? Data(contentsOf: loaded.file!),
               let decoded = try? JSONDecoder().decode([String: KthreadResumePoints].self, from: data) {
                loaded.points = decoded
            }
        }
        cache = loaded
        return loaded
    }

    /// The points of the thread function `name` whose entry is at `address`, or nil (recorded in `failures`).
    package func points(function name: String, address: UInt64) -> KthreadResumePoints? {
        let key = "\(name)@\(String(address, radix: 16))"
        do {
            if let known = try loadedCache().points[key] { return known }
            if reader == nil { reader = try FunctionLayoutReader(path: vmlinux) }
            guard let reader, let layout = reader.layout(at: address) else {
                failures.append("\(name): no DWARF subprogram at 0x\(String(address, radix: 16))")
                return nil
            }
            var instructions: [Instruction] = []
            for range in layout.ranges {
                let listing = try disassemble(["objdump", "-d", "--no-show-raw-insn",
                                                     "--start-address=0x\(String(range.lowerBound, radix: 16))",
                                                     "--stop-address=0x\(String(range.upperBound, radix: 16))", vmlinux])
                guard listing.status == 0 else {
                    failures.append("\(name): objdump exited \(listing.status)")
                    return nil
                }
                let decoded = ObjdumpListing.instructions(listing.output, rangeEnd: range.upperBound)
                guard decoded.first?.address == range.lowerBound else {
                    failures.append("\(name): objdump did not disassemble 0x\(String(range.lowerBound, radix: 16))")
                    return nil
                }
                instructions += decoded
            }
            let flow = ControlFlow(instructions: instructions, ranges: layout.ranges, extraEdges: try reader.hiddenEdges(in: layout.ranges))
            let points = KthreadResumePoints(layout: layout, flow: flow)
            cache?.points[key] = points
            dirty = true
            return points
        } catch {
            failures.append("\(name): \(error)")
            return nil
        }
    }

    /// Writes the cache if anything was added (atomically; a failure only costs the next build time).
    package func save() throws {
        guard dirty, let cache, let file = cache.file else { return }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(cache.points).write(to: file, options: .atomic)
        dirty = false
    }
}
