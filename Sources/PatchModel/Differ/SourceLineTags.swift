/// Source positions a string literal embeds: `__FILE__ ":" __stringify(__LINE__)`
/// (fortify's field-spanning memcpy warning, timer and lock-class names) and
/// `KBUILD_BASENAME ":" __stringify(__LINE__)` (regmap's lock names). The line
/// number moves whenever lines are added above it, so two strings equal but for
/// it are the same string. Only a number right after `<this file>:` is a line tag:
/// any other number in a string is data and stays compared.
struct SourceLineTags {
    /// The translation unit's source file name (STT_FILE), e.g. `x86.c`.
    let sourceFile: String

    /// Characters of a path as `__FILE__` spells it.
    private static func isPathByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
            || b == UInt8(ascii: "/") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// The file names a tag of this translation unit starts with: `x86.c` and `x86`.
    private var names: Set<[UInt8]> {
        guard !sourceFile.isEmpty else { return [] }
        let file = Array(sourceFile.utf8)
        var result: Set<[UInt8]> = [file]
        if let dot = file.lastIndex(of: UInt8(ascii: ".")), dot > 0 { result.insert(Array(file[..<dot])) }
        return result
    }

    /// `text` with every line number of a tag of this file replaced by `#`.
    func masked(_ text: [UInt8]) -> [UInt8] {
        let names = self.names
        guard !names.isEmpty, text.contains(UInt8(ascii: ":")) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            out.append(text[i])
            guard text[i] == UInt8(ascii: ":"), i + 1 < text.count, Self.isDigit(text[i + 1]) else { i += 1; continue }
            var start = i
            while start > 0, Self.isPathByte(text[start - 1]) { start -= 1 }
            let path = text[start..<i]
            let last = path.lastIndex(of: UInt8(ascii: "/")).map { path[($0 + 1)...] } ?? path
            i += 1
            guard names.contains(Array(last)) else { continue }
            while i < text.count, Self.isDigit(text[i]) { i += 1 }
            out.append(UInt8(ascii: "#"))
        }
        return out
    }
}
