import FoundationEssentials
import PatchModel

/// How to ask Kbuild for an object. Most directories are Kbuild directories of their own
/// (their Makefile assigns `obj-*`), and `make dir/x.o` builds x.o with their flags. Some
/// hold sources that another directory's Makefile compiles through a relative path, with
/// its flags and into its module: amdgpu.ko builds `amdgpu/../amdkfd/kfd_process.o`,
/// `amdgpu/../display/dc/...` and `amdgpu/../pm/...`; their own Makefiles only list files
/// for amdgpu's to include. Asked for `amdkfd/kfd_process.o`, Kbuild would compile it
/// without amdgpu's include paths ("amdgpu_amdkfd.h: No such file"), and the fix would be
/// wrongly taken for code the configuration does not build.
///
/// The object is then spelled through that directory, `amdgpu/../amdkfd/kfd_process.o`:
/// Kbuild writes the same file (and its `.cmd`) it always does, with the flags and
/// `KBUILD_MODNAME` of the module that really contains it.
enum KbuildBuildPath {
    /// `object` (relative to the tree) as the make target that builds it with its real flags.
    /// A directory that is no Kbuild directory of its own is looked up from its parent
    /// upwards (at most `levels` up): the first sibling branch whose Makefile is a Kbuild
    /// directory and names the object's branch (`amdkfd`, `display`) as a word builds it.
    static func target(of object: String, in tree: URL, levels: Int = 4) throws -> String {
        let parts = object.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return object }
        let directory = parts.dropLast()
        guard try !isKbuildDirectory(directory.joined(separator: "/"), in: tree) else { return object }
        // parts = ancestor + [branch, ...rest]: a sibling of `branch` may build it.
        for depth in stride(from: directory.count - 1, through: max(directory.count - levels, 1), by: -1) {
            let ancestor = parts.prefix(depth).joined(separator: "/")
            let branch = parts[depth]
            let rest = parts.dropFirst(depth).joined(separator: "/")
            let siblings = try FileManager.default.contentsOfDirectory(atPath: tree.appendingPathComponent(ancestor).path)
            for sibling in siblings.sorted() where sibling != branch {
                let candidate = "\(ancestor)/\(sibling)"
                guard try isKbuildDirectory(candidate, in: tree),
                      let text = try makefileText(candidate, in: tree), mentionsWord(branch, in: text) else { continue }
                return "\(candidate)/../\(rest)"
            }
        }
        return object
    }

    /// A directory whose Makefile (or Kbuild file) assigns an `obj-*` variable.
    static func isKbuildDirectory(_ directory: String, in tree: URL) throws -> Bool {
        guard let text = try makefileText(directory, in: tree) else { return false }
        return text.split(separator: "\n").contains { line in
            line.drop { $0 == " " || $0 == "\t" }.hasPrefix("obj-")
        }
    }

    /// The directory's Kbuild file, else its Makefile; nil when it has neither.
    private static func makefileText(_ directory: String, in tree: URL) throws -> String? {
        for name in ["Kbuild", "Makefile"] {
            let file = tree.appendingPathComponent(directory).appendingPathComponent(name)
            if KernelFile.exists(file.path) { return try String(contentsOf: file, encoding: .utf8) }
        }
        return nil
    }

    private static func mentionsWord(_ word: String, in text: String) -> Bool {
        var rest = text[...]
        while let range = rest.firstRange(of: word) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            if !isWordCharacter(before) && !isWordCharacter(after) { return true }
            rest = text[range.upperBound...]
        }
        return false
    }

    private static func isWordCharacter(_ c: Character?) -> Bool {
        guard let c else { return false }
        return c.isLetter || c.isNumber || c == "_" || c == "-"
    }
}
