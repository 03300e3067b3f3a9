import Foundation

/// Runs the external tools the builder drives (make, patch, modinfo): the only
/// process spawning in the builder, so failures look alike everywhere.
struct CommandRunner {
    struct Result {
        let status: Int32
        let output: String
    }

    /// Runs `argv` (looked up on PATH) to completion; stdout and stderr together.
    static func run(_ argv: [String], in dir: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        if let dir { process.currentDirectoryURL = dir }
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw BuildError.toolMissing(tool: argv.first ?? "?", underlying: "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
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
