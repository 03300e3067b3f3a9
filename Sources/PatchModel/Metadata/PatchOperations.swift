/// What a patch tells the people who run it: the CVEs it fixes and a one-paragraph
/// description (`build --cve ID --description TEXT`). Stored in the metadata as
/// optional records (docs/PATCH-FORMAT.md, tags 40 and 41): a reader that does not
/// know them ignores them.
public struct PatchOperations: Codable, Equatable, Sendable {
    /// Upper-case `CVE-YYYY-NNNN…` identifiers, in the order given, without repeats.
    public var cves: [String]
    public var description: String?

    public static let none = PatchOperations(checkedCVEs: [], description: nil)

    /// Longest description kept: a package description or a Prometheus label, not a changelog.
    public static let maxDescriptionBytes = 1000

    private init(checkedCVEs: [String], description: String?) {
        self.cves = checkedCVEs
        self.description = description
    }

    /// Checks and normalizes what the user gave; refuses, naming the value, what
    /// is not a CVE identifier or a description that would break a package or a label.
    public init(cves: [String], description: String?) throws {
        var seen: [String] = []
        for raw in cves {
            let id = raw.uppercased()
            guard PatchOperations.isCVE(id) else { throw PatchOperationsError.badCVE(raw) }
            if !seen.contains(id) { seen.append(id) }
        }
        var text: String?
        if let description {
            let trimmed = String(description.drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
            if trimmed.isEmpty { throw PatchOperationsError.badDescription("it is empty") }
            if trimmed.utf8.count > PatchOperations.maxDescriptionBytes {
                throw PatchOperationsError.badDescription("it has \(trimmed.utf8.count) bytes, more than \(PatchOperations.maxDescriptionBytes)")
            }
            if let bad = trimmed.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7f }) {
                throw PatchOperationsError.badDescription("it contains the control character U+\(String(bad.value, radix: 16, uppercase: true))")
            }
            text = trimmed
        }
        self.init(checkedCVEs: seen, description: text)
    }

    /// `CVE-` + a four-digit year + `-` + at least four digits (MITRE's syntax since 2014).
    public static func isCVE(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "CVE", parts[1].count == 4, parts[2].count >= 4, parts[2].count <= 19 else { return false }
        return parts[1].allSatisfy { $0.isASCII && $0.isNumber } && parts[2].allSatisfy { $0.isASCII && $0.isNumber }
    }

    public var isEmpty: Bool { cves.isEmpty && description == nil }
    /// nil when there is nothing to say: records written by older kpatchctl versions have no such key either.
    public var ifAny: PatchOperations? { isEmpty ? nil : self }

    /// The description's first line, the package synopsis.
    public var summary: String? { description.map { String($0.split(separator: "\n").first ?? "") } }
}

public enum PatchOperationsError: Error, Equatable, CustomStringConvertible {
    case badCVE(String)
    case badDescription(String)

    public var description: String {
        switch self {
        case .badCVE(let value):
            return "'\(value)' is not a CVE identifier: write CVE-YYYY-NNNN (for example --cve CVE-2024-1086)"
        case .badDescription(let why):
            return "the --description is not usable: \(why); give a short plain-text paragraph"
        }
    }
}
