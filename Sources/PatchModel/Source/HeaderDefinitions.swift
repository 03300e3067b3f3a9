/// The top-level definitions of a C header, read textually: macros, functions
/// (static inlines), struct/union/enum definitions, typedefs and declarations,
/// each with its normalized text and the identifiers it uses. Comparing the old
/// and new text of a header gives the identifiers a diff really changes, so the
/// builder rebuilds the objects that use them instead of every includer.
/// Preprocessor conditionals are not evaluated: every branch's definition counts.
public struct HeaderDefinitions: Sendable {
    public enum Kind: String, Sendable {
        case macro, function, record, enumeration, typedef, declaration
    }

    public struct Definition: Sendable, Equatable {
        public let kind: Kind
        /// The defined name: a macro, function, typedef or variable name; for a
        /// record "struct x"/"union x"; for an enum its tag (its constants are in `alsoDefines`).
        public let name: String
        /// Further identifiers the definition introduces (enum constants).
        public let alsoDefines: [String]
        /// The definition's text, comments removed and whitespace collapsed.
        public let text: String
        /// Identifiers the definition's text mentions.
        public let uses: Set<String>
    }

    public let definitions: [Definition]

    public init(text: String) {
        definitions = Self.parse(Self.stripComments(text))
    }

    /// What changed between two versions of one header.
    public struct Change: Sendable, Equatable {
        /// Identifiers whose definition differs (or exists on one side only),
        /// excluding records: macros, functions, typedefs, declarations, enum tags
        /// and constants.
        public var identifiers: [String]
        /// Struct and union definitions that differ ("struct task_struct"): a
        /// layout change, i.e. a data change.
        public var records: [String]
    }

    /// Definitions that differ between `old` and `new`, by kind and name.
    public static func change(old: HeaderDefinitions, new: HeaderDefinitions) -> Change {
        func grouped(_ defs: HeaderDefinitions) -> [String: (Definition, [String])] {
            var result: [String: (Definition, [String])] = [:]
            for d in defs.definitions {
                let key = "\(d.kind.rawValue) \(d.name)"
                result[key, default: (d, [])].1.append(d.text)
            }
            return result
        }
        let before = grouped(old), after = grouped(new)
        var identifiers: Set<String> = [], records: Set<String> = []
        for key in Set(before.keys).union(after.keys) {
            let a = before[key], b = after[key]
            guard a?.1.sorted() != b?.1.sorted(), let definition = (b ?? a)?.0 else { continue }
            if definition.kind == .record {
                records.insert(definition.name)
            } else {
                identifiers.insert(definition.name)
                identifiers.formUnion(a?.0.alsoDefines ?? [])
                identifiers.formUnion(b?.0.alsoDefines ?? [])
            }
        }
        return Change(identifiers: identifiers.sorted(), records: records.sorted())
    }

    /// Names of the definitions (macros, functions, typedefs, enum constants)
    /// that use any of `identifiers`: what changes when those do.
    public func dependents(of identifiers: Set<String>) -> Set<String> {
        var result: Set<String> = []
        for d in definitions where d.kind != .record && d.kind != .declaration && !d.uses.isDisjoint(with: identifiers) {
            result.insert(d.name)
            result.formUnion(d.alsoDefines)
        }
        return result
    }

    // MARK: - Parsing

    /// Replaces comments by a space, keeping newlines (and string literals) intact.
    static func stripComments(_ text: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "/"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i < bytes.count, !(bytes[i] == UInt8(ascii: "*") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/")) {
                    if bytes[i] == UInt8(ascii: "\n") { out.append(bytes[i]) }
                    i += 1
                }
                i += 2
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "/"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "/") {
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                out.append(c)
                i += 1
                while i < bytes.count, bytes[i] != c, bytes[i] != UInt8(ascii: "\n") {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count { out.append(bytes[i]); i += 1 }
                    out.append(bytes[i])
                    i += 1
                }
                if i < bytes.count { out.append(bytes[i]); i += 1 }
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Logical lines (backslash continuations joined), then top-level chunks:
    /// a `#define`, or C text up to a `;` or a function body's `}` at depth 0.
    static func parse(_ text: String) -> [Definition] {
        var logical: [String] = []
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("\\") { pending += line.dropLast() + " "; continue }
            logical.append(pending + line)
            pending = ""
        }
        if !pending.isEmpty { logical.append(pending) }

        var result: [Definition] = []
        var chunk = ""
        var braces = 0, parens = 0
        for line in logical {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("#") {
                if let macro = macroDefinition(trimmed) { result.append(macro) }
                // Conditionals inside a definition are part of its text.
                else if braces > 0 { chunk += " " + trimmed }
                continue
            }
            for ch in line {
                chunk.append(ch)
                switch ch {
                case "(": parens += 1
                case ")": parens = max(0, parens - 1)
                case "{": braces += 1
                case "}":
                    braces = max(0, braces - 1)
                    if braces == 0, parens == 0, isFunctionBody(chunk) {
                        if let d = definition(chunk) { result.append(d) }
                        chunk = ""
                    }
                case ";":
                    if braces == 0, parens == 0 {
                        if let d = definition(chunk) { result.append(d) }
                        chunk = ""
                    }
                default: break
                }
            }
            chunk.append(" ")
            // A top-level macro call without a semicolon (TASK_PFA_TEST(...)) stands alone.
            if braces == 0, parens == 0, isMacroCall(chunk) {
                if let d = definition(chunk) { result.append(d) }
                chunk = ""
            }
        }
        return result
    }

    /// `#define NAME...` -> a macro definition.
    static func macroDefinition(_ line: Substring) -> Definition? {
        let directive = line.dropFirst().drop { $0 == " " || $0 == "\t" }
        guard directive.hasPrefix("define") else { return nil }
        let rest = directive.dropFirst("define".count)
        guard rest.first == " " || rest.first == "\t" else { return nil }
        let body = rest.drop { $0 == " " || $0 == "\t" }
        let name = String(body.prefix { isIdentifierCharacter($0) })
        guard !name.isEmpty else { return nil }
        var uses = identifiers(in: body.dropFirst(name.count))
        uses.remove(name)
        return Definition(kind: .macro, name: name, alsoDefines: [], text: normalize(body), uses: uses)
    }

    /// Whether a chunk whose braces just closed is a function definition: its text
    /// before the first `{` has a parameter list and no initializer.
    static func isFunctionBody(_ chunk: String) -> Bool {
        guard let brace = chunk.firstIndex(of: "{") else { return false }
        let head = chunk[..<brace]
        return head.contains("(") && !head.contains("=") && !startsWithKeyword(head, ["typedef"])
    }

    /// `NAME(args)` with an upper-case NAME and nothing else.
    static func isMacroCall(_ chunk: String) -> Bool {
        let text = normalize(Substring(chunk))
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else { return false }
        var name = text[..<open]
        while name.last == " " { name = name.dropLast() }
        return !name.isEmpty && name.allSatisfy { $0 == "_" || $0.isUppercase || $0.isNumber }
    }

    /// Classifies one top-level chunk and names what it defines.
    static func definition(_ raw: String) -> Definition? {
        let text = normalize(Substring(raw))
        guard !text.isEmpty, text != ";" else { return nil }
        let head = text.firstIndex(of: "{").map { text[..<$0] } ?? Substring(text)
        let words = identifierList(in: head)
        let all = identifiers(in: Substring(text))
        func make(_ kind: Kind, _ name: String, also: [String] = []) -> Definition {
            var uses = all
            uses.remove(name)
            also.forEach { uses.remove($0) }
            return Definition(kind: kind, name: name, alsoDefines: also, text: text, uses: uses)
        }
        let hasBody = text.contains("{")
        if startsWithKeyword(head, ["typedef"]) {
            let declarator = text.firstRange(of: "(*").map { text[$0.upperBound...] }.map { identifierList(in: $0).first }
            let name = declarator.flatMap { $0 } ?? identifierList(in: tail(text)).last
            guard let name else { return nil }
            // A typedef'd struct body is a layout like any struct's.
            return make(hasBody && (words.contains("struct") || words.contains("union")) ? .record : .typedef, name)
        }
        if let keyword = words.first, ["struct", "union", "enum"].contains(keyword), hasBody, !head.contains("(") {
            let tag = words.count >= 2 ? words[1] : ""
            if keyword == "enum" {
                return make(.enumeration, tag.isEmpty ? "enum" : tag, also: enumerators(text))
            }
            guard !tag.isEmpty else { return nil }
            return make(.record, "\(keyword) \(tag)")
        }
        if head.contains("("), let name = functionName(head) {
            return make(hasBody ? .function : .declaration, name)
        }
        // A variable (or forward) declaration: the last name before `=`, `[` or `;`.
        let declarator = text.split(whereSeparator: { $0 == "=" || $0 == "[" || $0 == ";" }).first.map { identifierList(in: $0) }
        guard let name = declarator?.last else { return nil }
        return make(.declaration, name)
    }

    /// The name before the first parameter list that is not an attribute macro.
    static func functionName(_ head: Substring) -> String? {
        var last: String?
        var index = head.startIndex
        var word = ""
        while index < head.endIndex {
            let ch = head[index]
            if isIdentifierCharacter(ch) { word.append(ch) } else {
                if !word.isEmpty { last = word; word = "" }
                if ch == "(" {
                    if let name = last, !attributeMacros.contains(name), !name.hasPrefix("__attribute") { return name }
                    // Skip the attribute's arguments.
                    var depth = 0
                    while index < head.endIndex {
                        if head[index] == "(" { depth += 1 }
                        if head[index] == ")" { depth -= 1; if depth == 0 { break } }
                        index = head.index(after: index)
                    }
                    last = nil
                } else if ch != " " && ch != "*" {
                    last = nil
                }
            }
            if index < head.endIndex { index = head.index(after: index) }
        }
        return nil
    }

    /// Attribute-like macros that take arguments before a function's name.
    static let attributeMacros: Set<String> = [
        "__printf", "__scanf", "__section", "__aligned", "__must_hold", "__acquires", "__releases",
        "__alloc_size", "__malloc", "__cond_acquires", "__diag_ignore", "__no_sanitize_or_inline",
        "__nocfi", "__designated_init", "__assume_aligned", "__counted_by", "__realloc_size",
    ]

    /// `enum x { A = 1, B, C }` -> ["A", "B", "C"].
    static func enumerators(_ text: String) -> [String] {
        guard let open = text.firstIndex(of: "{"), let close = text.lastIndex(of: "}"), open < close else { return [] }
        return text[text.index(after: open)..<close].split(separator: ",").compactMap { identifierList(in: $0).first }
    }

    /// The text after the last `}` (a typedef's declarators), or all of it.
    private static func tail(_ text: String) -> Substring {
        text.lastIndex(of: "}").map { text[text.index(after: $0)...] } ?? Substring(text)
    }

    private static func startsWithKeyword(_ text: Substring, _ keywords: [String]) -> Bool {
        let words = identifierList(in: text.prefix(64))
        // Storage classes and qualifiers may come first.
        let first = words.first { !["extern", "static", "const", "volatile"].contains($0) }
        return first.map { keywords.contains($0) } ?? false
    }

    static func isIdentifierCharacter(_ ch: Character) -> Bool {
        ch == "_" || (ch.isASCII && (ch.isLetter || ch.isNumber))
    }

    /// Identifiers in order (numbers and string contents left out).
    static func identifierList(in text: Substring) -> [String] {
        var result: [String] = []
        var word = ""
        var inString: Character?
        for ch in text {
            if let quote = inString { if ch == quote { inString = nil }; continue }
            if isIdentifierCharacter(ch) { word.append(ch); continue }
            if !word.isEmpty, !(word.first!.isNumber) { result.append(word) }
            word = ""
            if ch == "\"" || ch == "'" { inString = ch }
        }
        if !word.isEmpty, !(word.first!.isNumber) { result.append(word) }
        return result
    }

    static func identifiers(in text: Substring) -> Set<String> { Set(identifierList(in: text)) }

    /// Whitespace runs collapsed to one space, trimmed.
    static func normalize(_ text: Substring) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }
}
