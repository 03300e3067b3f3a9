/// Interned strings stored as one byte blob plus start offsets, so a graph of
/// 100k+ names saves and loads as two flat arrays instead of 100k+ String objects.
public struct StringTable: Equatable, Sendable {
    /// UTF-8 bytes of every string, back to back.
    public private(set) var bytes: [UInt8] = []
    /// Start of string i is starts[i]; its end is starts[i + 1] (one extra entry).
    public private(set) var starts: [UInt32] = [0]

    public init() {}

    init(bytes: [UInt8], starts: [UInt32]) {
        self.bytes = bytes
        self.starts = starts
    }

    public var count: Int { starts.count - 1 }

    public subscript(index: Int) -> String {
        let range = Int(starts[index])..<Int(starts[index + 1])
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// Appends without checking for duplicates (the builder interns first).
    @discardableResult
    mutating func append(_ string: String) -> Int {
        bytes.append(contentsOf: string.utf8)
        starts.append(UInt32(bytes.count))
        return count - 1
    }

    /// Every index whose string equals `string`, by a byte scan (no dictionary to build on load).
    public func indices(of string: String) -> [Int] {
        let needle = Array(string.utf8)
        var found: [Int] = []
        bytes.withUnsafeBufferPointer { blob in
            starts.withUnsafeBufferPointer { starts in
                for i in 0..<(starts.count - 1) {
                    let start = Int(starts[i]), end = Int(starts[i + 1])
                    guard end - start == needle.count else { continue }
                    if needle.withUnsafeBufferPointer({ memcmpEqual(blob.baseAddress! + start, $0.baseAddress!, needle.count) }) {
                        found.append(i)
                    }
                }
            }
        }
        return found
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    for i in 0..<count where a[i] != b[i] { return false }
    return true
}
