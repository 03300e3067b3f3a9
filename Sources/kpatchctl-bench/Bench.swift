import ArgumentParser

/// Benchmarks print figures; docs/BENCHMARKS.md records them with the machine.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpatchctl-bench",
        abstract: "kpatchctl benchmarks: each subcommand measures one stage and prints figures.",
        subcommands: [CallGraphBench.self, DifferBench.self, KernelBuildBench.self, KthreadSurveyBench.self]
    )
}
