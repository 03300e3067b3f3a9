import Foundation

/// Runs a command to completion, capturing stdout and stderr together.
public struct CommandResult {
    public let status: Int32
    public let output: String
}

@discardableResult
public func runCommand(_ argv: [String], in dir: URL? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    if let dir { process.currentDirectoryURL = dir }
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// Like `runCommand`, but a non-zero exit throws with the output.
@discardableResult
public func runChecked(_ argv: [String], in dir: URL? = nil, environment: [String: String] = [:]) throws -> String {
    let result = try runCommand(argv, in: dir, environment: environment)
    guard result.status == 0 else {
        throw TestBedError.commandFailed(argv.joined(separator: " "), result.status, result.output)
    }
    return result.output
}
