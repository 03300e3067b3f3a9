import ArgumentParser
import PatchModel

enum KpatchctlVersion {
    static let string = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print kpatchctl's version and the libelf it runs with.")

    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let libelf = ELFLibrary.version
        if json {
            print(#"{"kpatchctl":"\#(KpatchctlVersion.string)","libelf":"\#(libelf)"}"#)
        } else {
            print("kpatchctl \(KpatchctlVersion.string) (libelf \(libelf))")
        }
    }
}
