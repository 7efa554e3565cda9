import Crypto
import DSDNDA

/// Celestia's blob share commitment, computed locally exactly as celestia-node (go-square) does, so a
/// writer knows the key `blob.Get` answers to before `blob.Submit` returns, and can tell after a timeout
/// whether an earlier attempt already landed.
///
/// The algorithm (docs/celestia.md §11):
/// 1. Split the data into 512-byte shares. First share: `ns(29) ‖ info ‖ len(data) as u32 big-endian
///    ‖ [signer(20) for v1] ‖ data…`, where `info = (shareVersion << 1) | 1`; continuations:
///    `ns(29) ‖ (shareVersion << 1) ‖ data…`; the last share is zero-padded. A v0 first share holds 478
///    data bytes, a v1 first share 458, every continuation 482.
/// 2. Subtree width for `n` shares: `min(roundUpPow2(ceil(n / 64)), roundUpPow2(ceil(sqrt(n))))`.
/// 3. Merkle mountain range: trees of `width` leaves while at least `width` shares remain, then
///    repeatedly `roundDownPow2(remaining)`.
/// 4. A namespaced Merkle root (SHA-256, 29-byte namespaces) per tree.
/// 5. The commitment is the RFC 6962 Merkle root over the 90-byte subtree roots.
///
/// Cost: one SHA-256 over 542 bytes per share and one over 181 bytes per inner node, with two reused
/// buffers; a 2 MiB blob (4,351 shares) allocates a handful of small arrays in total, not one per share.
public enum ShareCommitment {
    /// Bytes in one share.
    public static let shareSize = 512
    /// Bytes in a namespace.
    public static let namespaceSize = 29
    /// Bytes in a share version 1 signer (an account address).
    public static let signerSize = 20
    /// Celestia's `SubtreeRootThreshold` (app versions 1 to 5): the most subtree roots a blob's
    /// commitment is meant to have per row before its subtrees widen.
    public static let subtreeRootThreshold = 64
    /// Data bytes a share version 0 first share holds: 512 − namespace (29) − info (1) − length (4).
    public static let firstShareCapacity = 478
    /// Data bytes a share version 1 first share holds: 20 fewer than v0, for the signer.
    public static let firstShareCapacityWithSigner = 458
    /// Data bytes a continuation share holds: 512 − namespace (29) − info (1).
    public static let continuationShareCapacity = 482

    /// The commitment of a share version 0 blob: 32 bytes.
    ///
    /// Only share version 0 is accepted here; a version 1 blob carries a signer, so use
    /// ``compute(namespace:data:signer:)`` for it. Any other version is a programming error and traps.
    ///
    /// Empty data is not a valid Celestia blob (celestia-node refuses it); it is still given a value,
    /// the one celestia-types and go-square's splitter agree on: zero shares, whose RFC 6962 root is
    /// SHA-256 of the empty string.
    public static func compute(namespace: DANamespace, data: [UInt8], shareVersion: UInt8 = 0) -> [UInt8] {
        precondition(
            shareVersion == 0,
            "share version \(shareVersion) is not supported by compute(namespace:data:shareVersion:); "
                + "share version 1 needs a signer: use compute(namespace:data:signer:)")
        return commitment(namespace: namespace.bytes, data: data, signer: nil)
    }

    /// The commitment of a share version 1 blob, whose first share carries `signer` (the 20-byte account
    /// address of the submitter): 32 bytes. `signer` must be exactly 20 bytes.
    public static func compute(namespace: DANamespace, data: [UInt8], signer: [UInt8]) -> [UInt8] {
        precondition(signer.count == signerSize, "a share version 1 signer is 20 bytes, got \(signer.count)")
        return commitment(namespace: namespace.bytes, data: data, signer: signer)
    }

    /// The number of shares `dataLength` bytes of blob data occupy (0 for no data): one first share of
    /// 478 data bytes (458 with a v1 signer), then continuations of 482.
    public static func shareCount(dataLength: Int, shareVersion: UInt8 = 0) -> Int {
        precondition(dataLength >= 0, "a data length cannot be negative")
        precondition(shareVersion <= 1, "only share versions 0 and 1 exist, got \(shareVersion)")
        guard dataLength > 0 else { return 0 }
        let first = shareVersion == 0 ? firstShareCapacity : firstShareCapacityWithSigner
        guard dataLength > first else { return 1 }
        let rest = dataLength - first
        return 1 + (rest + continuationShareCapacity - 1) / continuationShareCapacity
    }

    /// The width of the subtrees a blob of `shareCount` shares is committed in:
    /// `min(roundUpPow2(ceil(n / 64)), roundUpPow2(ceil(sqrt(n))))` (1 for 0 shares).
    public static func subtreeWidth(shareCount: Int) -> Int {
        precondition(shareCount >= 0, "a share count cannot be negative")
        let perThreshold = (shareCount + subtreeRootThreshold - 1) / subtreeRootThreshold
        return min(roundUpPowerOfTwo(perThreshold), roundUpPowerOfTwo(ceilSquareRoot(shareCount)))
    }

    /// The sizes of the trees of the Merkle mountain range over `shareCount` leaves with trees of at
    /// most `width` leaves (a power of two): `width` while at least `width` remain, then the largest
    /// power of two not above what remains. For example 11 leaves of width 4 give `[4, 4, 2, 1]`.
    public static func mountainRange(shareCount: Int, width: Int) -> [Int] {
        precondition(shareCount >= 0, "a share count cannot be negative")
        precondition(width > 0 && width & (width - 1) == 0, "the tree width must be a power of two, got \(width)")
        var sizes: [Int] = []
        var remaining = shareCount
        while remaining > 0 {
            let size = remaining >= width ? width : roundDownPowerOfTwo(remaining)
            sizes.append(size)
            remaining -= size
        }
        return sizes
    }

    // MARK: - Implementation

    private static func commitment(namespace: [UInt8], data: [UInt8], signer: [UInt8]?) -> [UInt8] {
        precondition(namespace.count == namespaceSize, "a namespace is 29 bytes")
        precondition(data.count <= Int(UInt32.max), "blob data longer than 2^32 − 1 bytes cannot be sequenced")
        let version: UInt8 = signer == nil ? 0 : 1
        let count = shareCount(dataLength: data.count, shareVersion: version)
        let trees = mountainRange(shareCount: count, width: subtreeWidth(shareCount: count))

        var builder = ShareBuilder(namespace: namespace, data: data, signer: signer)
        var nodes = NodeHasher(namespace: namespace)
        var rootHashes: [SHA256.Digest] = []
        rootHashes.reserveCapacity(trees.count)
        // A stack of (height, hash) pending a right sibling; the trees are perfect, so each ends with
        // exactly one entry, its root. At most log2(width) + 1 entries.
        var pending: [(height: Int, hash: SHA256.Digest)] = []
        pending.reserveCapacity(32)
        for size in trees {
            for _ in 0..<size {
                var entry = (height: 0, hash: builder.nextLeafHash())
                while let top = pending.last, top.height == entry.height {
                    pending.removeLast()
                    entry = (entry.height + 1, nodes.hash(left: top.hash, right: entry.hash))
                }
                pending.append(entry)
            }
            precondition(pending.count == 1, "a mountain-range tree is perfect")
            rootHashes.append(pending.removeLast().hash)
        }

        // RFC 6962 over the 90-byte subtree roots `ns ‖ ns ‖ hash`: every leaf of one blob has the same
        // namespace, so each root's minimum and maximum namespace are the blob's.
        var item = [UInt8](repeating: 0, count: 1 + 2 * namespaceSize + SHA256.byteCount)
        item.replaceSubrange(1..<(1 + namespaceSize), with: namespace)
        item.replaceSubrange((1 + namespaceSize)..<(1 + 2 * namespaceSize), with: namespace)
        let leafHashes = rootHashes.map { root -> SHA256.Digest in
            root.withUnsafeBytes { item.replaceSubrange((1 + 2 * namespaceSize)..., with: $0) }
            return SHA256.hash(data: item)
        }
        return Array(rfc6962Root(leafHashes[...]))
    }

    /// RFC 6962's Merkle tree hash over already leaf-hashed items: empty → SHA-256(""); one → itself;
    /// more → SHA-256(0x01 ‖ root(left) ‖ root(right)), split at the largest power of two below the count.
    private static func rfc6962Root(_ leaves: ArraySlice<SHA256.Digest>) -> SHA256.Digest {
        switch leaves.count {
        case 0: return SHA256.hash(data: [UInt8]())
        case 1: return leaves[leaves.startIndex]
        default:
            let split = leaves.startIndex + largestPowerOfTwoBelow(leaves.count)
            let left = rfc6962Root(leaves[..<split])
            let right = rfc6962Root(leaves[split...])
            var hasher = SHA256()
            hasher.update(data: [0x01])
            left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            return hasher.finalize()
        }
    }

    /// Lays out shares one at a time in a single reused buffer prefixed for leaf hashing:
    /// `0x00 ‖ ns ‖ share`, where the share itself starts with `ns`.
    private struct ShareBuilder {
        private var buffer: [UInt8]
        private let data: [UInt8]
        private let signer: [UInt8]?
        private var consumed = 0
        private var isFirst = true

        /// Offset of the share inside the buffer.
        private static let shareStart = 1 + namespaceSize
        /// Offset of the info byte inside the buffer.
        private static let infoOffset = shareStart + namespaceSize

        init(namespace: [UInt8], data: [UInt8], signer: [UInt8]?) {
            self.data = data
            self.signer = signer
            buffer = [UInt8](repeating: 0, count: 1 + namespaceSize + shareSize)
            buffer.replaceSubrange(1..<Self.shareStart, with: namespace)
            buffer.replaceSubrange(Self.shareStart..<Self.infoOffset, with: namespace)
        }

        /// SHA-256(0x00 ‖ ns ‖ share) of the next share. The full 90-byte NMT leaf is `ns ‖ ns ‖ hash`.
        mutating func nextLeafHash() -> SHA256.Digest {
            let version: UInt8 = signer == nil ? 0 : 1
            var offset = Self.infoOffset
            buffer[offset] = isFirst ? (version << 1) | 1 : version << 1
            offset += 1
            if isFirst {
                let length = UInt32(data.count)
                buffer[offset] = UInt8(truncatingIfNeeded: length >> 24)
                buffer[offset + 1] = UInt8(truncatingIfNeeded: length >> 16)
                buffer[offset + 2] = UInt8(truncatingIfNeeded: length >> 8)
                buffer[offset + 3] = UInt8(truncatingIfNeeded: length)
                offset += 4
                if let signer {
                    buffer.replaceSubrange(offset..<(offset + signerSize), with: signer)
                    offset += signerSize
                }
                isFirst = false
            }
            let take = min(buffer.count - offset, data.count - consumed)
            let consumedBefore = consumed
            consumed += take
            return buffer.withUnsafeMutableBytes { out in
                data.withUnsafeBytes { source in
                    let chunk = UnsafeRawBufferPointer(rebasing: source[consumedBefore..<(consumedBefore + take)])
                    let target = UnsafeMutableRawBufferPointer(rebasing: out[offset...])
                    target.copyMemory(from: chunk)
                    // Zero the padding of a last, partial share (only the last one can be partial).
                    if take < target.count {
                        UnsafeMutableRawBufferPointer(rebasing: target[take...]).initializeMemory(as: UInt8.self, repeating: 0)
                    }
                }
                var hasher = SHA256()
                hasher.update(bufferPointer: UnsafeRawBufferPointer(out))
                return hasher.finalize()
            }
        }
    }

    /// Hashes NMT inner nodes of one blob's trees in a single reused buffer:
    /// `0x01 ‖ ns ‖ ns ‖ left ‖ ns ‖ ns ‖ right`. Every node's minimum and maximum namespace is the blob's
    /// namespace (all leaves share it, and it is never the parity namespace), so only the hashes vary.
    private struct NodeHasher {
        private var buffer: [UInt8]
        private static let leftHash = 1 + 2 * namespaceSize
        private static let rightHash = leftHash + SHA256.byteCount + 2 * namespaceSize

        init(namespace: [UInt8]) {
            buffer = [0x01] + namespace + namespace + [UInt8](repeating: 0, count: SHA256.byteCount)
            buffer += namespace + namespace + [UInt8](repeating: 0, count: SHA256.byteCount)
        }

        mutating func hash(left: SHA256.Digest, right: SHA256.Digest) -> SHA256.Digest {
            buffer.withUnsafeMutableBytes { out in
                left.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: out[Self.leftHash..<(Self.leftHash + SHA256.byteCount)]).copyMemory(from: $0)
                }
                right.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: out[Self.rightHash...]).copyMemory(from: $0)
                }
                var hasher = SHA256()
                hasher.update(bufferPointer: UnsafeRawBufferPointer(out))
                return hasher.finalize()
            }
        }
    }

    private static func roundUpPowerOfTwo(_ value: Int) -> Int {
        var result = 1
        while result < value { result <<= 1 }
        return result
    }

    private static func roundDownPowerOfTwo(_ value: Int) -> Int {
        precondition(value > 0)
        return 1 << (Int.bitWidth - 1 - value.leadingZeroBitCount)
    }

    private static func largestPowerOfTwoBelow(_ value: Int) -> Int {
        precondition(value > 1)
        return roundDownPowerOfTwo(value - 1)
    }

    /// ceil(sqrt(value)) in integers (no floating point rounding at perfect squares).
    private static func ceilSquareRoot(_ value: Int) -> Int {
        var root = 0
        while root * root < value { root += 1 }
        return root
    }
}
