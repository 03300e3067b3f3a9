import ArgumentParser

@main
struct Kpatchctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpatchctl",
        abstract: "Live-patch a running Linux kernel: build a patch module from a source diff, apply it, follow every task.",
        version: KpatchctlVersion.string,
        subcommands: [Build.self, Apply.self, Status.self, Revert.self, List.self, Info.self, Kthreads.self, CallGraphQuery.self, Version.self,
                      Install.self, Uninstall.self, LoadInstalledCommand.self, FetchKernel.self, Check.self,
                      PackageCommand.self]
    )
}
