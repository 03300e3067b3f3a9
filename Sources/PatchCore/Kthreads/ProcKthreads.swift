import FoundationEssentials

/// Reads the live kthreads from a proc mount (`/proc`, or a copy of one).
/// Tasks that exit while being read are skipped; a stack that cannot be read
/// (not root) leaves the entry unknown.
public enum ProcKthreads {
    public static func read(procRoot: URL = URL(fileURLWithPath: "/proc")) throws -> [LiveKthread] {
        let names = try FileManager.default.contentsOfDirectory(atPath: procRoot.path)
        return try names.compactMap(Int.init).sorted().compactMap { pid in
            let dir = procRoot.appendingPathComponent(String(pid))
            guard let stat = try? String(contentsOf: dir.appendingPathComponent("stat"), encoding: .utf8) else { return nil }
            let stack = (try? String(contentsOf: dir.appendingPathComponent("stack"), encoding: .utf8)) ?? ""
            return try LiveKthread(statText: stat, stackText: stack)
        }
    }
}
