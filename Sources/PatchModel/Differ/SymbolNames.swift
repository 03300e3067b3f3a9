/// Naming rules for symbols GCC generates.
package enum SymbolNames {
    /// The name with every numbered GCC suffix's number replaced by `#`
    /// (`foo.isra.0` -> `foo.isra.#`, `x.12` -> `x.#`), so clones and static
    /// locals renumbered between two compilations still correlate.
    static func normalized(_ name: String) -> String {
        let name = withoutCounter(name)
        guard name.utf8.contains(dot) else { return name }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.enumerated().map { i, p in
            i > 0 && !p.isEmpty && p.allSatisfy(\.isNumber) ? "#" : String(p)
        }.joined(separator: ".")
    }

    /// Families of names that end in a `__COUNTER__` value, which shifts whenever
    /// code above them changes: `__UNIQUE_ID_ddebug123` (dynamic-debug
    /// descriptors and other `__UNIQUE_ID()` users), `__BTF_ID__struct__sock__42`.
    static let counterPrefixes = ["__UNIQUE_ID_", btfIDPrefix]
    /// Labels `BTF_ID()` defines in `.BTF_ids`.
    static let btfIDPrefix = "__BTF_ID__"

    /// The name with its trailing counter replaced by `#` when it is of a counter-named family.
    static func withoutCounter(_ name: String) -> String {
        guard counterPrefixes.contains(where: { name.utf8.starts(with: $0.utf8) }) else { return name }
        // The counter ends the C name; GCC suffixes (`.0`) may follow it.
        let head = name.prefix { $0 != "." }
        let stem = head.reversed().drop { $0.isNumber }
        guard stem.count < head.count else { return name }
        return String(stem.reversed()) + "#" + name.dropFirst(head.count)
    }

    /// The name before the first GCC suffix (`foo.isra.0` -> `foo`).
    static func base(_ name: String) -> String {
        guard let at = name.utf8.firstIndex(of: dot), at != name.startIndex else { return name }
        return String(name[..<at])
    }

    private static let coldMark = Array(".cold".utf8)

    /// `.` as a byte: names are searched in their UTF-8 (per Character, the differ spent a
    /// tenth of its time here).
    private static let dot = UInt8(ascii: ".")

    /// `foo.cold` / `foo.cold.N`: the out-of-line cold part of `foo`, not a function of its own.
    static func coldParent(of name: String) -> String? {
        guard name.utf8.contains(coldMark) else { return nil }
        let n = normalized(name)
        for suffix in [".cold", ".cold.#"] where n.hasSuffix(suffix) {
            return String(name[..<name.ranges(of: ".cold").last!.lowerBound])
        }
        return nil
    }

    /// Compiler-private statics: never correlated, each compilation owns its own.
    static let compilerPrivate: Set<String> = [
        "__key", "__warned", "__func__", "_rs", "__already_done", "__print_once", "__once",
        "__FUNCTION__", "__PRETTY_FUNCTION__", "descriptor", "__UNIQUE_ID_ddebug", "__tpstrtab",
        "__ksymtab", "__kstrtab", "__kstrtabns", "__crc",
    ]

    static func isCompilerPrivate(_ name: String) -> Bool {
        // Clang names a function's statics `function.name` (`ioctx_alloc.__UNIQUE_ID_ddebug391`).
        if let at = name.utf8.firstIndex(of: dot), at != name.startIndex {
            let inner = String(name[name.utf8.index(after: at)...])
            if let first = inner.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
               isCompilerPrivateBase(inner) { return true }
        }
        return isCompilerPrivateBase(name)
    }

    private static func isCompilerPrivateBase(_ name: String) -> Bool {
        let b = base(name)
        if compilerPrivate.contains(b) { return true }
        return name.hasPrefix("__UNIQUE_ID_") || name.hasPrefix(".L") || b.hasPrefix("__compound_literal")
            || b.hasPrefix("CSWTCH") || b.hasPrefix("__initcall__") || b.hasPrefix("__exitcall_")
            || b.hasPrefix("__mod_") || b.hasPrefix("__param_")
    }

    /// A C identifier for the replacement of `name` in the patch object.
    package static func replacementSymbol(for name: String, sympos: Int) -> String {
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return sympos == 0 ? "klp_new_\(safe)" : "klp_new_\(safe)_\(sympos)"
    }
}
