import FoundationEssentials

/// Kernels built with IBT or clang LTO (Debian's 6.12: `CONFIG_X86_KERNEL_IBT=y`) run objtool
/// once per module, on its linked object (Kbuild's `delay-objtool`:
/// `objtool ... --link --module <patch>.o`), not on each object. objtool then skips every
/// section the object already has ("file already has .return_sites section, skipping"), so a
/// shipped patch object carrying the differ's own `.return_sites`, `.call_sites`, ORC, ...
/// would leave the template's code out of them: on 6.12 the patch module's exit returned
/// through an unpatched `jmp __x86_return_thunk` and the kernel warned "Unpatched return thunk
/// in use. This should not happen!" at `rmmod`. On such kernels the shipped objects go
/// without objtool's sections, and objtool writes them for the whole module (the replaced
/// functions included: ORC, return and call sites, static call sites, as for any module).
enum ObjtoolDeferral {
    /// The sections objtool writes (and would skip when present).
    static let objtoolSections = [".return_sites", ".call_sites", ".retpoline_sites", ".orc_unwind",
                                  ".orc_unwind_ip", ".static_call_sites", ".ibt_endbr_seal"]

    /// Whether the kernel whose Kbuild tree is `headers` runs objtool on linked modules only.
    static func isDeferred(headers: URL) throws -> Bool {
        let path = headers.appendingPathComponent(".config")
        guard FileManager.default.fileExists(atPath: path.path) else {
            throw BuildError.missingInput(what: "the target's kernel config (to tell whether objtool runs on linked modules)", path: path.path)
        }
        let config = try String(contentsOf: path, encoding: .utf8)
        let lines = Set(config.split(separator: "\n"))
        return lines.contains("CONFIG_X86_KERNEL_IBT=y") || lines.contains("CONFIG_LTO_CLANG=y")
    }

    /// Removes objtool's sections (and their relocations) from `object`, in place.
    static func strip(_ object: URL) throws {
        let remove = objtoolSections.flatMap { ["-R", $0, "-R", ".rela" + $0] }
        try CommandRunner.check(.link, ["objcopy"] + remove + [object.path])
    }

    /// Strips the shipped patch objects of the Kbuild directory `dir` when `headers` defers objtool.
    static func prepareShippedObjects(in dir: URL, headers: URL) throws {
        guard try isDeferred(headers: headers) else { return }
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".o_shipped") {
            try strip(dir.appendingPathComponent(name))
        }
    }
}
