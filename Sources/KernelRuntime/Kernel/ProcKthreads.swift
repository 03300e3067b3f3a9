import FoundationEssentials
import PatchModel
import KthreadSafety

/// Reads the live kthreads from a proc mount (`/proc`, or a copy of one).
/// Tasks that exit while being read are skipped; a stack that cannot be read
/// (not root) leaves the entry unknown.
public enum ProcKthreads {
    public static func read(procRoot: URL = URL(fileURLWithPath: "/proc")) throws -> [LiveKthread] {
        let names = try FileManager.default.contentsOfDirectory(atPath: procRoot.path)
        return try names.compactMap(Int.init).sorted().compactMap { pid -> LiveKthread? in
            let dir = procRoot.appendingPathComponent(String(pid))
            guard let stat = try? String(contentsOf: dir.appendingPathComponent("stat"), encoding: .utf8) else { return nil }
            do {
                let stack = try KernelFile.read(dir.appendingPathComponent("stack").path)
                return try LiveKthread(statText: stat, stackText: stack)
            } catch let error as ProcParseError {
                throw error
            } catch {
                // Not root, or the task exited meanwhile: the kthread is listed with an unknown entry.
                return try LiveKthread(statText: stat, stackText: "", stackError: "\(error) (reading it needs root)")
            }
        }
    }
}
