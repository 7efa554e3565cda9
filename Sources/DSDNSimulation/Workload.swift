import DSDNCore

/// A storage network's workload, height by height, from a seed: nodes across zones with heterogeneous
/// capacity join, report stats, fail and recover, drain and leave, and a whole zone fails once; clients
/// upload chunks with heavy-tailed sizes and a mix of replication factors, and remove some. Placements
/// are not part of it: whoever runs the workload decides them (`dsdn-coordinator simulate` with a pack
/// policy). Every event is valid against the state the earlier ones produce. Integer arithmetic only, so
/// the events are the same on every machine.
public struct Workload: Sendable {
    /// The shape of a workload.
    public struct Parameters: Hashable, Sendable {
        /// The PRNG seed.
        public var seed: UInt64
        /// Storage nodes (80 % join at the first height, the rest over time).
        public var nodes: Int
        /// Zones they are spread over.
        public var zones: Int
        /// Workload events per height.
        public var eventsPerHeight: Int
        /// About how many heights the history will have (when the zone failure happens).
        public var expectedHeights: Int
        /// The mean capacity of a node, in bytes.
        public var meanCapacityBytes: UInt64
        /// Unix milliseconds of the first event.
        public var startMillis: UInt64

        /// Creates parameters.
        public init(
            seed: UInt64, nodes: Int, zones: Int, eventsPerHeight: Int, expectedHeights: Int, meanCapacityBytes: UInt64,
            startMillis: UInt64 = 1_767_225_600_000
        ) {
            self.seed = seed
            self.nodes = max(1, nodes)
            self.zones = max(1, zones)
            self.eventsPerHeight = max(1, eventsPerHeight)
            self.expectedHeights = max(1, expectedHeights)
            self.meanCapacityBytes = max(1 << 30, meanCapacityBytes)
            self.startMillis = startMillis
        }
    }

    /// The smallest chunk: sizes are this times 2^k times 1–2, k geometric (a Pareto-like tail).
    public static let minimumChunkBytes: UInt64 = 64 << 20
    /// About how many bytes of live replicas each history event leaves, net of removals: a mean chunk
    /// of about 207 MiB, 3.25 replicas, 0.43 uploads less 0.07 removals per workload event, and 10
    /// workload events per 23 history events (placements make up the rest): 207 × 3.25 × 0.36 × 10/23
    /// ≈ 105 MiB.
    public static let storedBytesPerEvent: UInt64 = 105 << 20
    /// Workload events per history event, as a fraction (placements make up the rest of a history).
    public static let workloadShare = (numerator: 10, denominator: 23)
    /// Replication factors in proportion: 2 (15 %), 3 (65 %), 5 (20 %).
    static let replicationFactors: [UInt8] = Array(repeating: 2, count: 3) + Array(repeating: 3, count: 13) + Array(repeating: 5, count: 4)
    /// Capacity multipliers of the node classes (mean 1).
    static let capacityClasses: [UInt64] = [1, 2, 2, 4, 4, 4, 8, 15]

    private enum NodeState: Sendable { case unborn, active, draining, down, gone }

    private struct Node: Sendable {
        var id: String
        var zone: Int
        var capacity: UInt64
        var state: NodeState = .unborn
        /// The height at which a drain ends (the node leaves) or a failure ends (it comes back).
        var until = 0
    }

    private let parameters: Parameters
    private var random: SeededGenerator
    private var nodes: [Node] = []
    private var chunks: [Hash256] = []
    private var height = 0
    private var clock: UInt64
    private let zoneFailure: (start: Int, end: Int)

    /// A workload; `nextHeight()` gives its events.
    public init(_ parameters: Parameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
        clock = parameters.startMillis
        let classes = Self.capacityClasses
        let classSum = classes.reduce(0, +)
        for index in 0..<parameters.nodes {
            let multiplier = classes[Int(random.below(UInt64(classes.count)))]
            let capacity = parameters.meanCapacityBytes / classSum * UInt64(classes.count) * multiplier
            nodes.append(Node(id: Self.nodeID(index), zone: index % parameters.zones, capacity: max(1 << 30, capacity)))
        }
        let expected = parameters.expectedHeights
        zoneFailure = (start: max(2, expected * 3 / 5), end: max(3, expected * 3 / 5 + max(1, expected / 10)))
    }

    /// The node id of index `index`.
    public static func nodeID(_ index: Int) -> String {
        let digits = String(index)
        return "node-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// The zone id of index `index`.
    public static func zoneID(_ index: Int) -> String { "zone-\(index)" }

    /// The next height's events.
    public mutating func nextHeight() -> [Event] {
        height += 1
        var events: [Event] = []
        if height == 1 {
            for index in nodes.indices where index * 5 < nodes.count * 4 { events.append(join(index)) }
        }
        for index in nodes.indices where nodes[index].until == height {
            switch nodes[index].state {
            case .draining:
                nodes[index].state = .gone
                events.append(.nodeUnregistered(nodeID: nodes[index].id))
            case .down:
                nodes[index].state = .active
                events.append(.nodeStatusChanged(nodeID: nodes[index].id, status: .active))
            default: break
            }
        }
        if height == zoneFailure.start {
            let zone = Int(random.below(UInt64(parameters.zones)))
            for index in nodes.indices where nodes[index].zone == zone && nodes[index].state == .active {
                nodes[index].state = .down
                nodes[index].until = zoneFailure.end
                events.append(.nodeStatusChanged(nodeID: nodes[index].id, status: .down))
            }
        }
        for _ in 0..<parameters.eventsPerHeight {
            let roll = random.below(1000)
            switch roll {
            case 0..<430: events.append(declareChunk())
            case 900..<970: if let event = removeChunk() { events.append(event) }
            case 970..<972: if let event = failNode() { events.append(event) }
            case 972..<973: if let event = drainNode() { events.append(event) }
            case 973..<978: if let event = joinNode() { events.append(event) }
            default: if let event = reportStats() { events.append(event) }
            }
        }
        return events
    }

    /// The latest timestamp the workload wrote (its clock, in Unix milliseconds).
    public var clockMillis: UInt64 { clock }

    private mutating func tick() -> UInt64 {
        clock += 1 + random.below(200)
        return clock
    }

    private mutating func join(_ index: Int) -> Event {
        nodes[index].state = .active
        return .nodeRegistered(
            nodeID: nodes[index].id, zone: Self.zoneID(nodes[index].zone),
            addr: "10.\(index / 65536 % 256).\(index / 256 % 256).\(index % 256):7000", capacityBytes: nodes[index].capacity)
    }

    private mutating func declareChunk() -> Event {
        var exponent: UInt64 = 0
        // P(k+1)/P(k) = 0.354 ≈ 2^-1.5: a tail like a Pareto's with exponent about 1.5.
        while exponent < 9 && random.chance(354, in: 1000) { exponent += 1 }
        let base = Self.minimumChunkBytes << exponent
        let size = base + random.below(base)
        let hash = Hash256(w0: random.next(), w1: random.next(), w2: random.next(), w3: random.next())
        chunks.append(hash)
        let factor = Self.replicationFactors[Int(random.below(UInt64(Self.replicationFactors.count)))]
        return .chunkDeclared(
            hash: hash, sizeBytes: size, replicationFactor: factor, uploaderID: "client-\(random.below(50))", daCommitment: nil)
    }

    private mutating func removeChunk() -> Event? {
        guard !chunks.isEmpty else { return nil }
        let index = Int(random.below(UInt64(chunks.count)))
        let hash = chunks[index]
        chunks.swapAt(index, chunks.count - 1)
        chunks.removeLast()
        return .chunkRemoved(hash: hash)
    }

    private mutating func randomNode(in state: NodeState) -> Int? {
        for _ in 0..<8 {
            let index = Int(random.below(UInt64(nodes.count)))
            if nodes[index].state == state { return index }
        }
        return nil
    }

    private mutating func reportStats() -> Event? {
        guard let index = randomNode(in: .active) else { return nil }
        let stats = NodeStats(
            cpuFreeMilli: UInt32(random.below(16_000)), ramFreeMB: random.below(256_000), gpuFreeMilli: 0,
            latencyMicros: UInt32(200 + random.below(50_000)), ioPressureMilli: UInt32(random.below(1001)), usedBytes: 0,
            reportedAtMillis: tick())
        return .nodeStatsReported(nodeID: nodes[index].id, stats: stats)
    }

    private mutating func failNode() -> Event? {
        guard let index = randomNode(in: .active) else { return nil }
        nodes[index].state = .down
        nodes[index].until = height + 5 + Int(random.below(40))
        return .nodeStatusChanged(nodeID: nodes[index].id, status: .down)
    }

    private mutating func drainNode() -> Event? {
        guard let index = randomNode(in: .active) else { return nil }
        nodes[index].state = .draining
        nodes[index].until = height + 5 + Int(random.below(20))
        return .nodeStatusChanged(nodeID: nodes[index].id, status: .draining)
    }

    private mutating func joinNode() -> Event? {
        guard let index = randomNode(in: .unborn) else { return nil }
        return join(index)
    }
}
