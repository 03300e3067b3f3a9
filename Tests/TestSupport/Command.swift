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
    let start = Date()
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    logDuration(argv, since: start)
    return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// A command that took a while gets a line in the class's log (scripts/test-classes keeps
/// one per class), so a slow class shows which builds and VM runs its time went to.
private func logDuration(_ argv: [String], since start: Date) {
    let seconds = Date().timeIntervalSince(start)
    guard seconds >= 2 else { return }
    let words = argv.prefix(4).map { $0.hasPrefix("/") ? URL(fileURLWithPath: $0).lastPathComponent : $0 }
    print(String(format: "[took %.1f s] ", seconds) + words.joined(separator: " "))
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
