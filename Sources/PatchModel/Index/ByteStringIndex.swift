/// An open-addressing hash index from names kept as bytes (a symbol table's string
/// table, a Module.symvers text) to item numbers: built with no `String` per item,
/// so a large table costs one hashing pass and a lookup costs a few comparisons.
/// Same-named items come back in item order (linear probing keeps insertion order).
struct ByteStringIndex: Sendable {
    /// Item per slot, -1 when empty.
    private var slots: [Int32]
    private var hashes: [UInt64]
    private let mask: Int

    /// Indexes items `0..<count`; `hash` gives an item's name hash, nil to leave it out.
    init(count: Int, hash: (Int) -> UInt64?) {
        var capacity = 16
        while capacity < count * 2 { capacity <<= 1 }
        slots = Array(repeating: -1, count: capacity)
        hashes = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for item in 0..<count {
            guard let h = hash(item) else { continue }
            var at = Int(truncatingIfNeeded: h) & mask
            while slots[at] >= 0 { at = (at + 1) & mask }
            slots[at] = Int32(item)
            hashes[at] = h
        }
    }

    /// The items whose name hashes to `hash` and for which `matches` holds, in item order.
    func lookup(hash: UInt64, matches: (Int) -> Bool) -> [Int] {
        var at = Int(truncatingIfNeeded: hash) & mask
        var hits: [Int] = []
        while slots[at] >= 0 {
            let item = Int(slots[at])
            if hashes[at] == hash, matches(item) { hits.append(item) }
            at = (at + 1) & mask
        }
        return hits
    }

    /// FNV-1a over `bytes`: the hash every user of the index gives its names.
    static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
