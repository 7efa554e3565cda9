import DSDNCore

/// Generates realistic, valid event histories from a seed: nodes join, report stats, change status,
/// move zones and leave; chunks are declared, replicated, lost, repaired and removed. Every event is
/// valid against the state the earlier events produce, so any grouping into blobs applies cleanly.
///
/// The output is a pure function of the parameters (no `Dictionary` or `Set` iteration, seeded PRNG).
public struct SyntheticHistory: Sendable {
    /// The shape of a history.
    public struct Parameters: Hashable, Sendable {
        /// The PRNG seed.
        public var seed: UInt64
        /// How many events to produce.
        public var eventCount: Int
        /// How many storage nodes join at the start.
        public var nodeCount: Int
        /// How many zones they are spread over.
        public var zoneCount: Int
        /// Unix milliseconds of the first event's timestamp; later ones advance from it.
        public var startMillis: UInt64

        /// Creates parameters.
        public init(seed: UInt64, eventCount: Int, nodeCount: Int = 50, zoneCount: Int = 5, startMillis: UInt64 = 1_767_225_600_000) {
            self.seed = seed
            self.eventCount = eventCount
            self.nodeCount = max(1, nodeCount)
            self.zoneCount = max(1, zoneCount)
            self.startMillis = startMillis
        }
    }

    private struct GenNode {
        var id: String
        var zone: Int
        var registered = true
        var down = false
        var draining = false
        var chunks: [Int] = []
    }

    private struct GenChunk {
        var hash: Hash256
        var size: UInt64
        var holders: [Int?]
        var uploader: Int
        var commitment: Hash256?
        var removed = false
    }

    /// Generates the events.
    public static func events(_ parameters: Parameters) -> [Event] {
        var generator = SyntheticHistory(parameters)
        return generator.run()
    }

    private var random: SeededGenerator
    private let parameters: Parameters
    private var nodes: [GenNode] = []
    private var chunks: [GenChunk] = []
    private var pending: [Int] = []
    private var events: [Event] = []
    private var clock: UInt64

    private init(_ parameters: Parameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
        clock = parameters.startMillis
    }

    private mutating func run() -> [Event] {
        events.reserveCapacity(parameters.eventCount)
        for index in 0..<parameters.nodeCount where events.count < parameters.eventCount {
            nodes.append(GenNode(id: Self.nodeID(index), zone: index % parameters.zoneCount))
            events.append(registration(of: index))
        }
        while events.count < parameters.eventCount {
            let roll = random.below(1000)
            switch roll {
            case 0..<150: declareChunk()
            case 150..<800: addReplica()
            case 800..<900: reportStats()
            case 900..<925: removeChunk()
            case 925..<950: removeReplica()
            case 950..<962: changeStatus()
            case 962..<968: churnNode()
            case 968..<978: moveZone()
            default: repeatSomething()
            }
        }
        return events
    }

    static func nodeID(_ index: Int) -> String {
        let digits = String(index)
        return "node-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    static func zoneID(_ index: Int) -> String { "zone-\(index)" }

    private mutating func tick() -> UInt64 {
        clock += 1 + random.below(2000)
        return clock
    }

    private mutating func registration(of index: Int) -> Event {
        let capacity = (UInt64(1) << 40) * (1 + random.below(8))
        return .nodeRegistered(
            nodeID: nodes[index].id, zone: Self.zoneID(nodes[index].zone),
            addr: "10.\(index / 65536 % 256).\(index / 256 % 256).\(index % 256):\(7000 + index % 1000)",
            capacityBytes: capacity)
    }

    private mutating func randomHash() -> Hash256 {
        Hash256(w0: random.next(), w1: random.next(), w2: random.next(), w3: random.next())
    }

    private mutating func declareChunk() {
        let replicationFactor = [3, 3, 3, 3, 3, 3, 2, 1, 5][Int(random.below(9))]
        let chunk = GenChunk(
            hash: randomHash(), size: 1 + random.below(64 << 20), holders: Array(repeating: nil, count: replicationFactor),
            uploader: Int(random.below(20)), commitment: random.chance(1, in: 2) ? randomHash() : nil)
        chunks.append(chunk)
        pending.append(chunks.count - 1)
        events.append(declaration(of: chunks.count - 1))
    }

    private func declaration(of index: Int) -> Event {
        let chunk = chunks[index]
        return .chunkDeclared(
            hash: chunk.hash, sizeBytes: chunk.size, replicationFactor: UInt8(chunk.holders.count),
            uploaderID: "uploader-\(chunk.uploader)", daCommitment: chunk.commitment)
    }

    private mutating func addReplica() {
        while !pending.isEmpty {
            let slot = Int(random.below(UInt64(pending.count)))
            let chunkIndex = pending[slot]
            guard !chunks[chunkIndex].removed, let free = chunks[chunkIndex].holders.firstIndex(where: { $0 == nil }) else {
                pending.swapAt(slot, pending.count - 1)
                pending.removeLast()
                continue
            }
            for _ in 0..<8 {
                let node = Int(random.below(UInt64(nodes.count)))
                guard nodes[node].registered, !nodes[node].down, !nodes[node].draining,
                    !chunks[chunkIndex].holders.contains(where: { $0 == node })
                else { continue }
                chunks[chunkIndex].holders[free] = node
                nodes[node].chunks.append(chunkIndex)
                events.append(
                    .replicaAdded(
                        hash: chunks[chunkIndex].hash, nodeID: nodes[node].id, replicaIndex: UInt8(free),
                        addedAtMillis: tick(), provenance: nil))
                return
            }
            return
        }
        declareChunk()
    }

    private mutating func reportStats() {
        let node = Int(random.below(UInt64(nodes.count)))
        guard nodes[node].registered else { return rejoin(node) }
        let stats = NodeStats(
            cpuFreeMilli: UInt32(random.below(16_000)), ramFreeMB: random.below(256_000),
            gpuFreeMilli: UInt32(random.below(4) * 1000), latencyMicros: UInt32(100 + random.below(100_000)),
            ioPressureMilli: UInt32(random.below(1001)), usedBytes: random.below(UInt64(1) << 42),
            reportedAtMillis: tick())
        events.append(.nodeStatsReported(nodeID: nodes[node].id, stats: stats))
    }

    private mutating func removeChunk() {
        guard let index = randomLiveChunk() else { return declareChunk() }
        chunks[index].removed = true
        events.append(.chunkRemoved(hash: chunks[index].hash))
    }

    private mutating func removeReplica() {
        guard let index = randomLiveChunk(), let slot = chunks[index].holders.firstIndex(where: { $0 != nil }),
            let node = chunks[index].holders[slot]
        else { return addReplica() }
        chunks[index].holders[slot] = nil
        pending.append(index)
        events.append(.replicaRemoved(hash: chunks[index].hash, nodeID: nodes[node].id))
    }

    private mutating func randomLiveChunk() -> Int? {
        guard !chunks.isEmpty else { return nil }
        for _ in 0..<4 {
            let index = Int(random.below(UInt64(chunks.count)))
            if !chunks[index].removed { return index }
        }
        return nil
    }

    /// The node's live replicas become lost: free their indices and queue the chunks for repair.
    private mutating func loseReplicas(of node: Int) {
        for chunkIndex in nodes[node].chunks {
            guard let slot = chunks[chunkIndex].holders.firstIndex(where: { $0 == node }) else { continue }
            chunks[chunkIndex].holders[slot] = nil
            if !chunks[chunkIndex].removed { pending.append(chunkIndex) }
        }
        nodes[node].chunks.removeAll()
    }

    private mutating func changeStatus() {
        let node = Int(random.below(UInt64(nodes.count)))
        guard nodes[node].registered else { return rejoin(node) }
        let status: NodeStatus
        if nodes[node].down || nodes[node].draining {
            status = .active
        } else {
            status = random.chance(1, in: 2) ? .down : .draining
        }
        if status == .down { loseReplicas(of: node) }
        nodes[node].down = status == .down
        nodes[node].draining = status == .draining
        events.append(.nodeStatusChanged(nodeID: nodes[node].id, status: status))
    }

    private mutating func churnNode() {
        let node = Int(random.below(UInt64(nodes.count)))
        if nodes[node].registered {
            loseReplicas(of: node)
            nodes[node].registered = false
            events.append(.nodeUnregistered(nodeID: nodes[node].id))
        } else {
            rejoin(node)
        }
    }

    /// An unregistered node comes back.
    private mutating func rejoin(_ node: Int) {
        nodes[node].registered = true
        nodes[node].down = false
        nodes[node].draining = false
        events.append(registration(of: node))
    }

    private mutating func moveZone() {
        let node = Int(random.below(UInt64(nodes.count)))
        guard nodes[node].registered else { return rejoin(node) }
        nodes[node].zone = Int(random.below(UInt64(parameters.zoneCount)))
        events.append(.zoneAssigned(zone: Self.zoneID(nodes[node].zone), nodeID: nodes[node].id))
    }

    /// Idempotent repeats: an identical re-declaration, which must be a no-op.
    private mutating func repeatSomething() {
        guard let index = randomLiveChunk() else { return declareChunk() }
        events.append(declaration(of: index))
    }
}

extension Array where Element == Event {
    /// Groups events into encoded blobs of at most `batchSize` events from one publisher, with
    /// sequences starting at `firstSequence`.
    public func encodedBlobs(publisher: String, batchSize: Int, firstSequence: UInt64 = 1) throws(CodecError) -> [[UInt8]] {
        var blobs: [[UInt8]] = []
        var sequence = firstSequence
        var start = 0
        let size = Swift.max(1, batchSize)
        while start < count {
            let end = Swift.min(count, start + size)
            blobs.append(try BlobCodec.encode(BlobEnvelope(publisherID: publisher, sequence: sequence, events: Array(self[start..<end]))))
            sequence += 1
            start = end
        }
        return blobs
    }
}
