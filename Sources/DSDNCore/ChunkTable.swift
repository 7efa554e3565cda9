/// The declared chunks: records in a dense array (a chunk's *slot*), found by hash through an
/// open-addressing index. Replaces a general ordered dictionary on the replay path: a lookup touches
/// the index and the one entry it finds (which holds the hash beside the record), and hashing is a few
/// multiplications instead of SipHash over 32 bytes.
///
/// Slot order is storage order (removal moves the last entry into the hole) and is never observable:
/// everything visible is sorted by hash. The index's layout depends on a per-process key (as Swift's
/// own `Set` and `Dictionary` do), so chunk hashes chosen to collide cannot slow every lookup down.
struct ChunkTable: Sendable {
    struct Entry: Sendable {
        var hash: Hash256
        var record: ChunkRecord
    }

    private(set) var entries: [Entry] = []
    /// Each bucket is 0 (empty) or `tag << 32 | (slot + 1)`, where `tag` is the top 32 bits of the
    /// key's mixed hash; the bucket a key starts probing at is the tag's top bits.
    private var buckets: [UInt64] = []
    private var bucketBits = 0

    var count: Int { entries.count }

    /// The record in `slot`.
    subscript(slot: Int) -> ChunkRecord {
        _read { yield entries[slot].record }
        _modify { yield &entries[slot].record }
    }

    /// The hash of the chunk in `slot`.
    func hash(at slot: Int) -> Hash256 { entries.withUnsafeBufferPointer { $0[slot].hash } }

    /// The slot of a chunk, if declared.
    func slot(of hash: Hash256) -> Int? {
        guard !buckets.isEmpty else { return nil }
        let tag = Self.tag(hash)
        let mask = buckets.count - 1
        var bucket = Int(tag >> UInt32(32 - bucketBits))
        // Through the buffers: comparing a stored hash must not copy its entry.
        return buckets.withUnsafeBufferPointer { buckets in
            entries.withUnsafeBufferPointer { entries in
                while true {
                    let value = buckets[bucket]
                    if value == 0 { return nil }
                    if UInt32(truncatingIfNeeded: value >> 32) == tag {
                        let slot = Int(truncatingIfNeeded: value & 0xFFFF_FFFF) - 1
                        if entries[slot].hash == hash { return slot }
                    }
                    bucket = (bucket + 1) & mask
                }
            }
        }
    }

    /// The record of a chunk, if declared.
    subscript(hash: Hash256) -> ChunkRecord? { slot(of: hash).map { entries[$0].record } }

    /// Appends a chunk that is not stored yet; returns its slot.
    @discardableResult
    mutating func append(_ hash: Hash256, _ record: ChunkRecord) -> Int {
        let slot = entries.count
        entries.append(Entry(hash: hash, record: record))
        if (entries.count + 1) * 4 > buckets.count * 3 {
            rehash(bits: max(4, bucketBits + 1))
        } else {
            insertBucket(tag: Self.tag(hash), slot: slot)
        }
        return slot
    }

    /// Removes the chunk in `slot` by moving the last entry into it; returns the moved entry's old slot
    /// (the last one) when an entry moved.
    @discardableResult
    mutating func remove(at slot: Int) -> Int? {
        removeBucket(of: entries[slot].hash, slot: slot)
        let last = entries.count - 1
        guard slot != last else {
            entries.removeLast()
            return nil
        }
        let moved = entries[last]
        removeBucket(of: moved.hash, slot: last)
        entries[slot] = moved
        entries.removeLast()
        insertBucket(tag: Self.tag(moved.hash), slot: slot)
        return last
    }

    // MARK: The index

    private mutating func insertBucket(tag: UInt32, slot: Int) {
        let mask = buckets.count - 1
        var bucket = Int(tag >> UInt32(32 - bucketBits))
        while buckets[bucket] != 0 { bucket = (bucket + 1) & mask }
        buckets[bucket] = UInt64(tag) << 32 | UInt64(slot + 1)
    }

    /// Empties the bucket that points at `slot` and shifts the rest of its probe run back (no
    /// tombstones, so probe runs never grow with churn).
    private mutating func removeBucket(of hash: Hash256, slot: Int) {
        let mask = buckets.count - 1
        let wanted = UInt64(Self.tag(hash)) << 32 | UInt64(slot + 1)
        var hole = Int(UInt32(truncatingIfNeeded: wanted >> 32) >> UInt32(32 - bucketBits))
        while buckets[hole] != wanted { hole = (hole + 1) & mask }
        var next = (hole + 1) & mask
        while buckets[next] != 0 {
            let home = Int(UInt32(truncatingIfNeeded: buckets[next] >> 32) >> UInt32(32 - bucketBits))
            // Move `next` into the hole unless its home lies cyclically in (hole, next].
            let distanceToNext = (next - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToNext {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        buckets[hole] = 0
    }

    private mutating func rehash(bits: Int) {
        precondition(bits <= 32, "chunk table over 2^32 buckets")
        bucketBits = bits
        buckets = [UInt64](repeating: 0, count: 1 << bits)
        for slot in entries.indices { insertBucket(tag: Self.tag(entries[slot].hash), slot: slot) }
    }

    /// The top 32 bits of a keyed mix of the hash's four words (multiply-and-fold, as wyhash does).
    @inline(__always)
    private static func tag(_ hash: Hash256) -> UInt32 {
        let key = ProcessHashKey.words
        let left = fold(hash.w0 ^ key.0, hash.w1 ^ key.1)
        let right = fold(hash.w2 ^ key.2, hash.w3 ^ key.3)
        return UInt32(truncatingIfNeeded: fold(left ^ key.4, right ^ key.5) >> 32)
    }
}

/// A family of sets of chunk slots (dense small integers), one per owner (a node's chunks with a live
/// replica, or the one set of under-replicated chunks), all kept in one arena: open addressing with
/// Fibonacci hashing in a power-of-two region per set. One arena instead of an array per set means an
/// insert touches the bucket it probes, not also a separate buffer's header. A region outgrown goes to a
/// free list of its size and is reused by the next set that grows to that size; when free regions make
/// up more than half of the arena, the live regions are packed into a new one.
///
/// Slots are positions the state machine assigns, never values a publisher picks, so a fixed multiplier
/// spreads them well; the order of `members(of:)` depends only on the history of inserts and removals.
struct SlotSets: Sendable {
    private static let empty = UInt32.max
    private struct Region: Sendable {
        var offset = 0
        /// log2 of the region's size; 0 while the set has no region.
        var bits = 0
        var count = 0
    }

    private var arena: [UInt32] = []
    private var regions: [Region] = []
    /// Offsets of free regions, indexed by `bits`.
    private var free: [[Int]] = Array(repeating: [], count: 33)
    /// Words of the arena in free regions.
    private var freeWords = 0

    /// How many sets there are.
    var setCount: Int { regions.count }

    /// Adds an empty set; returns its number.
    @discardableResult
    mutating func addSet() -> Int {
        regions.append(Region())
        return regions.count - 1
    }

    func count(of set: Int) -> Int { regions[set].count }

    func contains(_ slot: UInt32, in set: Int) -> Bool {
        let region = regions[set]
        guard region.bits > 0 else { return false }
        return arena.withUnsafeBufferPointer { arena in
            let mask = (1 << region.bits) - 1
            var bucket = Self.home(slot, region.bits)
            while true {
                let value = arena[region.offset + bucket]
                if value == slot { return true }
                if value == Self.empty { return false }
                bucket = (bucket + 1) & mask
            }
        }
    }

    /// Inserts `slot` into a set; returns false when it was present.
    @discardableResult
    mutating func insert(_ slot: UInt32, into set: Int) -> Bool {
        precondition(slot != Self.empty, "slot out of range")
        if (regions[set].count + 1) * 4 > (regions[set].bits == 0 ? 0 : 3 << regions[set].bits) { grow(set) }
        let region = regions[set]
        let inserted = arena.withUnsafeMutableBufferPointer { arena in
            let mask = (1 << region.bits) - 1
            var bucket = Self.home(slot, region.bits)
            while true {
                let value = arena[region.offset + bucket]
                if value == slot { return false }
                if value == Self.empty { break }
                bucket = (bucket + 1) & mask
            }
            arena[region.offset + bucket] = slot
            return true
        }
        if inserted { regions[set].count += 1 }
        return inserted
    }

    /// Removes `slot` from a set; returns false when it was absent. Shifts the rest of the probe run back
    /// (no tombstones, so probe runs never grow with churn).
    @discardableResult
    mutating func remove(_ slot: UInt32, from set: Int) -> Bool {
        let region = regions[set]
        guard region.bits > 0 else { return false }
        let removed = arena.withUnsafeMutableBufferPointer { arena in
            let mask = (1 << region.bits) - 1
            let base = region.offset
            var hole = Self.home(slot, region.bits)
            while arena[base + hole] != slot {
                if arena[base + hole] == Self.empty { return false }
                hole = (hole + 1) & mask
            }
            var next = (hole + 1) & mask
            while arena[base + next] != Self.empty {
                let home = Self.home(arena[base + next], region.bits)
                if (hole - home) & mask < (next - home) & mask {
                    arena[base + hole] = arena[base + next]
                    hole = next
                }
                next = (next + 1) & mask
            }
            arena[base + hole] = Self.empty
            return true
        }
        if removed { regions[set].count -= 1 }
        return removed
    }

    /// The members of a set, in storage order.
    func members(of set: Int) -> [UInt32] {
        let region = regions[set]
        guard region.bits > 0 else { return [] }
        var out: [UInt32] = []
        out.reserveCapacity(region.count)
        for value in arena[region.offset..<(region.offset + (1 << region.bits))] where value != Self.empty {
            out.append(value)
        }
        return out
    }

    /// Empties every set and frees the arena (the sets stay, empty).
    mutating func removeAllMembers() {
        arena = []
        free = Array(repeating: [], count: 33)
        freeWords = 0
        for index in regions.indices { regions[index] = Region() }
    }

    @inline(__always)
    private static func home(_ slot: UInt32, _ bits: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(slot) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - bits))
    }

    private mutating func grow(_ set: Int) {
        let bits = Swift.max(3, regions[set].bits + 1)
        if free[bits].isEmpty, freeWords > arena.count / 2 { compact() }
        let old = regions[set]
        let offset: Int
        if let reused = free[bits].popLast() {
            offset = reused
            freeWords -= 1 << bits
            arena.withUnsafeMutableBufferPointer { arena in
                for index in offset..<(offset + (1 << bits)) { arena[index] = Self.empty }
            }
        } else {
            offset = arena.count
            arena.append(contentsOf: repeatElement(Self.empty, count: 1 << bits))
        }
        regions[set] = Region(offset: offset, bits: bits, count: 0)
        if old.bits > 0 {
            for index in old.offset..<(old.offset + (1 << old.bits)) where arena[index] != Self.empty {
                insert(arena[index], into: set)
            }
            free[old.bits].append(old.offset)
            freeWords += 1 << old.bits
        }
    }

    /// Packs the live regions into a new arena, dropping the free ones.
    private mutating func compact() {
        var packed: [UInt32] = []
        packed.reserveCapacity(arena.count - freeWords)
        for set in regions.indices where regions[set].bits > 0 {
            let region = regions[set]
            regions[set].offset = packed.count
            packed.append(contentsOf: arena[region.offset..<(region.offset + (1 << region.bits))])
        }
        arena = packed
        free = Array(repeating: [], count: 33)
        freeWords = 0
    }
}

/// 64×64 → 128-bit multiply, folded to 64 bits.
@inline(__always)
func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return product.high ^ product.low
}

/// Six words drawn once per process from the standard library's own per-process hashing seed.
enum ProcessHashKey {
    static let words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = {
        var hasher = Hasher()
        hasher.combine(0x4453_444E as UInt64)
        var state = UInt64(truncatingIfNeeded: hasher.finalize())
        func next() -> UInt64 {
            // SplitMix64.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return (next(), next(), next(), next(), next(), next())
    }()
}
