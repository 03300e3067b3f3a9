import Interruption
import FoundationEssentials
import Glibc
import PatchModel

/// Runs the external tools the builder drives (make, patch, grep, tar): the only
/// process spawning in the builder, so failures look alike everywhere. posix_spawn
/// directly: Foundation's Process would pull the whole of Foundation into the binary.
struct CommandRunner {
    struct Result {
        let status: Int32
        let output: String
    }

    /// Runs `argv` (looked up on PATH) to completion; stdout and stderr together,
    /// stdin from /dev/null, LC_ALL=C. `onLine` sees each output line as it arrives
    /// (progress displays); the whole output is returned all the same.
    static func run(_ argv: [String], in dir: URL? = nil, environment: [String: String] = [:],
                    onLine: ((Substring) -> Void)? = nil) throws -> Result {
        guard let tool = argv.first else { throw BuildError.toolMissing(tool: "?", underlying: "empty command") }
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }

        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw BuildError.toolMissing(tool: tool, underlying: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        // Its own process group, so an interruption stops the command and everything it started
        // (make's compilers too), whoever the signal was sent to.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A clean signal state: the child would otherwise inherit the spawning thread's mask,
        // and concurrency's worker threads block nearly everything, SIGCHLD included. A shell
        // started with SIGCHLD blocked waits for its background jobs forever (dash's `wait`
        // sleeps in sigsuspend with the mask it inherited): seen as a hung multi-release build.
        var unblocked = sigset_t(), defaulted = sigset_t()
        sigemptyset(&unblocked)
        sigemptyset(&defaulted)
        for signal in [SIGCHLD, SIGPIPE, SIGINT, SIGTERM] { sigaddset(&defaulted, signal) }
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaulted)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)

        // env(1) finds the tool on PATH and, with -C, runs it in `dir` (as Process did through /usr/bin/env).
        let cArgv = (["/usr/bin/env"] + (dir.map { ["-C", $0.path] } ?? []) + argv).map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgv + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, cArgv, cEnv)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw BuildError.toolMissing(tool: tool, underlying: String(cString: strerror(spawned)))
        }

        var output: [UInt8] = []
        var lineStart = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        var pollsSinceStop: Int?
        while true {
            // Poll rather than block, so a SIGINT/SIGTERM (its handler restarts reads) is seen promptly;
            // the group gets SIGTERM, and SIGKILL 5 s later if it still holds the pipe.
            if pollsSinceStop == nil, Interruption.requested {
                kill(-pid, SIGTERM)
                pollsSinceStop = 0
            } else if let polls = pollsSinceStop {
                if polls == 25 { kill(-pid, SIGKILL) }
                pollsSinceStop = polls + 1
            }
            var ready = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, 200)
            if polled == 0 || (polled < 0 && errno == EINTR) { continue }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output.append(contentsOf: chunk[0..<n])
            if let onLine, let last = output.lastIndex(of: UInt8(ascii: "\n")), last >= lineStart {
                String(decoding: output[lineStart..<last], as: UTF8.self).split(separator: "\n").forEach(onLine)
                lineStart = last + 1
            }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let signal = Interruption.receivedSignal {
            kill(-pid, SIGKILL)  // anything of the group still running (a compiler that ignored SIGTERM)
            throw BuildError.interrupted(signal: signal)
        }
        // WIFEXITED/WEXITSTATUS are macros Swift cannot import: a signal gives 128 + its number, as a shell does.
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exit, output: String(decoding: output, as: UTF8.self))
    }

    /// Like `run`, but a non-zero exit is a `BuildError.commandFailed` for `stage`.
    @discardableResult
    static func check(_ stage: BuildStage, _ argv: [String], in dir: URL? = nil,
                      environment: [String: String] = [:]) throws -> String {
        let result = try run(argv, in: dir, environment: environment)
        guard result.status == 0 else {
            throw BuildError.commandFailed(stage: stage, command: argv.joined(separator: " "),
                                           status: result.status, output: result.output)
        }
        return result.output
    }
}
