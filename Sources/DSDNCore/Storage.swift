/// Interned identifiers: each distinct name gets a dense `UInt32` the first time it is seen, so records
/// hold 4-byte references instead of strings. Indices depend on history (a rolled-back blob may have
/// interned a name), so they never leak into output: everything visible is sorted by name.
struct SymbolTable: Sendable {
    private(set) var names: [String] = []
    private var indexByName: [String: UInt32] = [:]

    func lookup(_ name: String) -> UInt32? { indexByName[name] }

    mutating func intern(_ name: String) -> UInt32 {
        if let index = indexByName[name] { return index }
        let index = UInt32(names.count)
        names.append(name)
        indexByName[name] = index
        return index
    }

    subscript(index: UInt32) -> String { names[Int(index)] }
}

/// A node as stored: strings interned, no floats.
struct NodeRecord: Hashable, Sendable {
    var zone: UInt32?
    var addr: String
    var capacityBytes: UInt64
    var status: NodeStatus
    var stats: NodeStats?
}

/// What the chunk map implies for one node; maintained incrementally from replica changes.
struct NodeLoad: Hashable, Sendable {
    var storedBytes: UInt64 = 0
    var liveReplicas: UInt32 = 0
}

/// One replica entry of a chunk: live, or lost (its node went down or left) until replaced or re-added.
struct Replica: Hashable, Sendable {
    // Widest field first: 16-byte stride instead of 24, for three inline replicas per chunk.
    var addedAtMillis: UInt64
    var node: UInt32
    var index: UInt8
    var isLost: Bool

    init(node: UInt32, addedAtMillis: UInt64, index: UInt8, isLost: Bool) {
        self.addedAtMillis = addedAtMillis
        self.node = node
        self.index = index
        self.isLost = isLost
    }

    static let empty = Replica(node: 0, addedAtMillis: 0, index: 0, isLost: false)
}

/// A chunk's replica entries: the first three inline (the common replication factor allocates nothing),
/// more in a spill array. At most one entry per node and `replication_factor` entries in all.
struct ReplicaList: RandomAccessCollection, MutableCollection, Hashable, Sendable {
    private var first = Replica.empty
    private var second = Replica.empty
    private var third = Replica.empty
    /// `nil` up to three entries, so copying a common record retains nothing.
    private var spill: [Replica]? = nil
    private var storedCount: UInt8 = 0

    var startIndex: Int { 0 }
    var endIndex: Int { Int(storedCount) }
    var count: Int { Int(storedCount) }

    subscript(position: Int) -> Replica {
        get {
            switch position {
            case 0: first
            case 1: second
            case 2: third
            default: spill![position - 3]
            }
        }
        set {
            switch position {
            case 0: first = newValue
            case 1: second = newValue
            case 2: third = newValue
            default: spill![position - 3] = newValue
            }
        }
    }

    mutating func append(_ replica: Replica) {
        switch storedCount {
        case 0: first = replica
        case 1: second = replica
        case 2: third = replica
        default:
            if spill == nil { spill = [replica] } else { spill!.append(replica) }
        }
        storedCount += 1
    }

    /// Removes the entry at `position`, keeping the order of the others.
    mutating func remove(at position: Int) {
        var index = position
        while index + 1 < count {
            self[index] = self[index + 1]
            index += 1
        }
        if storedCount > 4 {
            spill!.removeLast()
        } else if storedCount == 4 {
            spill = nil
        } else {
            self[count - 1] = .empty
        }
        storedCount -= 1
    }

    func firstIndex(ofNode node: UInt32) -> Int? { indices.first { self[$0].node == node } }

    static func == (lhs: ReplicaList, rhs: ReplicaList) -> Bool { lhs.elementsEqual(rhs) }
    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for replica in self { hasher.combine(replica) }
    }
}

/// A declared chunk as stored.
struct ChunkRecord: Hashable, Sendable {
    var sizeBytes: UInt64
    var uploader: UInt32
    var replicationFactor: UInt8
    var daCommitment: Hash256?
    var replicas = ReplicaList()

    var liveReplicaCount: Int { replicas.reduce(0) { $0 + ($1.isLost ? 0 : 1) } }

    /// Fewer live replicas than the replication factor.
    var isUnderReplicated: Bool { liveReplicaCount < Int(replicationFactor) }
}

/// A position in the canonical order of the DA: height, then blob index within the height.
public struct BlobPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The DA height.
    public var height: UInt64
    /// The blob's index within the height.
    public var index: UInt32

    /// Creates a position.
    public init(height: UInt64, index: UInt32) {
        self.height = height
        self.index = index
    }

    /// Height first, then index.
    public static func < (lhs: BlobPosition, rhs: BlobPosition) -> Bool {
        (lhs.height, lhs.index) < (rhs.height, rhs.index)
    }

    /// `height/index`.
    public var description: String { "\(height)/\(index)" }
}

/// A blob that was refused, kept in a short recent list for operators.
public struct BlobRejection: Hashable, Sendable {
    /// Where the blob was.
    public var position: BlobPosition
    /// The class of refusal.
    public var reason: RejectionReason
    /// What was wrong.
    public var message: String
    /// The publisher id, when the envelope decoded.
    public var publisherID: String?
    /// The blob's sequence, when the envelope decoded.
    public var sequence: UInt64?
    /// The position of the refused event inside the blob, for `invalid_event`.
    public var eventIndex: Int?

    /// Creates a rejection.
    public init(
        position: BlobPosition, reason: RejectionReason, message: String, publisherID: String? = nil,
        sequence: UInt64? = nil, eventIndex: Int? = nil
    ) {
        self.position = position
        self.reason = reason
        self.message = message
        self.publisherID = publisherID
        self.sequence = sequence
        self.eventIndex = eventIndex
    }
}

/// The delivery bookkeeping: which blobs were applied, skipped or refused. Kept apart from the content
/// checksum because it depends on how events were grouped into blobs, which the content does not.
public struct DeliveryCursor: Hashable, Sendable {
    /// How many recent rejections are kept for display.
    public static let recentRejectionLimit = 32

    /// The last blob position considered (applied, duplicate or rejected).
    public internal(set) var lastPosition: BlobPosition?
    /// The highest sequence applied per publisher id.
    public internal(set) var publisherSequences: [String: UInt64] = [:]
    /// Blobs applied.
    public internal(set) var blobsApplied: UInt64 = 0
    /// Blobs skipped because their (publisher, sequence) was already applied.
    public internal(set) var blobsDuplicate: UInt64 = 0
    /// Events applied (including events that were no-ops, such as an identical re-registration).
    public internal(set) var eventsApplied: UInt64 = 0
    /// Placements (`ReplicaAdded` with provenance) that were no-ops because an earlier placement took
    /// their replica slot, or their chunk, node or node status changed since the decision (first-wins).
    public internal(set) var placementsSuperseded: UInt64 = 0
    /// Rejected blobs per reason, indexed by `RejectionReason.rawValue`.
    public internal(set) var rejectionCounts = [UInt64](repeating: 0, count: 8)
    /// The most recent rejections, oldest first.
    public internal(set) var recentRejections: [BlobRejection] = []

    /// Rejected blobs of all reasons.
    public var blobsRejected: UInt64 { rejectionCounts.reduce(0, +) }

    /// Rejected blobs for one reason.
    public func rejections(_ reason: RejectionReason) -> UInt64 { rejectionCounts[Int(reason.rawValue)] }

    mutating func recordRejection(_ rejection: BlobRejection) {
        rejectionCounts[Int(rejection.reason.rawValue)] += 1
        recentRejections.append(rejection)
        if recentRejections.count > Self.recentRejectionLimit { recentRejections.removeFirst() }
    }
}

/// Byte-wise order of UTF-8, the only string order used in output (Swift's `<` on `String` compares
/// Unicode-normalized scalars, which is not what the documented encoding sorts by).
@inline(__always)
public func utf8Precedes(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
}
