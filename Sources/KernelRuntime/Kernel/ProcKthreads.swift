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
                let stack = try readStack(dir.appendingPathComponent("stack").path)
                return try LiveKthread(statText: stat, stackText: stack)
            } catch let error as ProcParseError {
                throw error
            } catch {
                // Not root, or the task exited meanwhile: the kthread is listed with an unknown entry.
                return try LiveKthread(statText: stat, stackText: "", stackError: "\(error) (reading it needs root)")
            }
        }
    }

    /// Times /proc/PID/stack is read while it comes back empty: the kernel does not walk
    /// the stack of a task running on another CPU, and most kthreads run for a moment only
    /// (kpvictim's tick thread was caught so under TCG, leaving its entry unknown).
    static let emptyStackReads = 20
    static let emptyStackPause = 0.005

    /// The stack text, read again (up to `emptyStackReads` times, `emptyStackPause` apart)
    /// while it is empty. Still empty after that: the entry stays unknown, and says why.
    private static func readStack(_ path: String) throws -> String {
        var text = try KernelFile.read(path), reads = 1
        while reads < emptyStackReads && text.allSatisfy(\.isWhitespace) {
            KernelFile.sleep(seconds: emptyStackPause)
            text = try KernelFile.read(path)
            reads += 1
        }
        return text
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
