import FoundationEssentials
import Glibc
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
            let stat: String
            do { stat = try KernelFile.read(dir.appendingPathComponent("stat").path) } catch let error as KernelFileError {
                // Exited between the listing and the read: not a task any more, not an error.
                if error.errno == ENOENT || error.errno == ESRCH { return nil }
                // Anything else fails closed: it may be a kthread the check would not see.
                throw ProcKthreadsError.unreadableStat(pid: pid, error: error)
            }
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

public enum ProcKthreadsError: Error, CustomStringConvertible, Equatable {
    /// /proc/PID/stat could not be read for another reason than the task exiting.
    case unreadableStat(pid: Int, error: KernelFileError)

    public var description: String {
        switch self {
        case .unreadableStat(let pid, let error):
            return "cannot read /proc/\(pid)/stat (\(error)): the kthread check cannot tell whether task \(pid) is a kthread "
                + "or what it runs, so it refuses; check the proc mount (hidepid, permissions) and run as root"
        }
    }
}
