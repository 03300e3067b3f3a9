/// Why the differ could not produce an outcome for a pair of objects (as
/// opposed to a `Refusal`, which is a change it will not patch).
public enum DifferError: Error, CustomStringConvertible, Equatable {
    /// A symbol the patch references that neither the target nor vmlinux provides.
    case unresolvedSymbol(file: String, symbol: String, why: String)
    /// A construct the differ does not handle, named with what to do.
    case unsupported(file: String, symbol: String, what: String)
    /// The target's symbol table has no block of local symbols for this source file.
    case sourceFileNotInTarget(file: String, sourceFile: String, target: String)

    public var description: String {
        switch self {
        case .unresolvedSymbol(let f, let s, let why): return "\(f): cannot resolve \(s): \(why)"
        case .unsupported(let f, let s, let what): return "\(f): \(s): \(what)"
        case .sourceFileNotInTarget(let f, let src, let t):
            return "\(f): no symbols of \(src) in \(t); is the target the object this source was built into?"
        }
    }
}
