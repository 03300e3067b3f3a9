import Foundation

/// One boot of the pinned kernel in QEMU through scripts/vm-run.
public struct TestVM {
    public struct Outcome {
        public let passed: Bool
        /// "KPTEST PASS name" / "KPTEST FAIL name: why" lines, in order.
        public let checks: [String]
        /// vm-run's report: the verdict and, on failure, the last console lines.
        public let report: String
        public let consoleLog: String

        public var failedChecks: [String] { checks.filter { $0.hasPrefix("KPTEST FAIL") } }
        public func passed(_ name: String) -> Bool { checks.contains("KPTEST PASS \(name)") }
    }

    public let bed: TestBed
    public init(bed: TestBed = .shared) { self.bed = bed }

    /// Boots the bed's kernel (vm-run --pin for a bed not on the default pin) with `payload` (a directory holding run.sh and its files) and waits
    /// at most `timeout` seconds. `keepLogs` keeps the console and the full kernel
    /// log (console.log, kmsg.log) in that directory. A kernel report (WARN, BUG,
    /// lockup, stall, hung task) fails the run unless its first line matches one of
    /// `expectedReports` (extended regular expressions).
    /// `disk` boots a Debian root file system instead of the busybox initramfs (vm-run
    /// --disk): its disk image, written in place (a copy; the same copy again is a reboot),
    /// and its initrd; the payload goes in on a second disk.
    public func run(payload: URL, timeout: Int = 120, modules: [String] = [],
                    keepLogs: URL? = nil, expectedReports: [String] = [], append: String? = nil,
                    disk: (image: URL, initrd: URL)? = nil) throws -> Outcome {
        let log = payload.appendingPathComponent("console.log")
        var argv = [bed.script("vm-run").path, "--pin", bed.pin.path, "--payload", payload.path,
                    "--timeout", String(timeout), "--log", log.path]
        if let disk { argv += ["--disk", disk.image.path, "--initrd", disk.initrd.path] }
        if let append { argv += ["--append", append] }
        for m in modules { argv += ["--modules", m] }
        if let keepLogs { argv += ["--keep-logs", keepLogs.path] }
        for regex in expectedReports { argv += ["--expect-report", regex] }
        let result = try runCommand(argv)
        let console = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        // vm-run lists the checks first, then its verdict ("VM PASS"/"VM FAIL") and,
        // on failure, console lines that repeat them.
        let checks = result.output.split(separator: "\n").map(String.init)
            .prefix { !$0.hasPrefix("VM ") }
            .filter { $0.hasPrefix("KPTEST PASS ") || $0.hasPrefix("KPTEST FAIL ") }
        return Outcome(passed: result.status == 0, checks: checks, report: result.output, consoleLog: console)
    }

    /// Writes `script` as run.sh plus `files` into a new payload directory.
    public func payload(_ label: String, script: String, files: [String: URL] = [:]) throws -> URL {
        let dir = try bed.scratch("vm-\(label)")
        try script.write(to: dir.appendingPathComponent("run.sh"), atomically: true, encoding: .utf8)
        for (name, source) in files {
            try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent(name))
        }
        return dir
    }
}
