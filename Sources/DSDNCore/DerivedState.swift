/// A registered node as queries return it.
public struct NodeInfo: Hashable, Sendable {
    /// The node's id.
    public var id: String
    /// Its zone, if it has one.
    public var zone: String?
    /// Its `host:port` address.
    public var addr: String
    /// Its storage capacity in bytes.
    public var capacityBytes: UInt64
    /// Its status.
    public var status: NodeStatus
    /// Its last reported workload figures, if any.
    public var stats: NodeStats?
    /// Bytes of live replicas the chunk map places on it.
    public var storedBytes: UInt64
    /// Live replicas the chunk map places on it.
    public var liveReplicas: Int
}

/// A replica as queries return it.
public struct ReplicaInfo: Hashable, Sendable {
    /// The node holding (or that held) it.
    public var nodeID: String
    /// Its replica index, below the chunk's replication factor.
    public var index: UInt8
    /// When it was added, in Unix milliseconds, as the event said.
    public var addedAtMillis: UInt64
    /// Whether it was lost (its node went down or left) and awaits repair.
    public var isLost: Bool

    /// Creates a replica description.
    public init(nodeID: String, index: UInt8, addedAtMillis: UInt64, isLost: Bool) {
        self.nodeID = nodeID
        self.index = index
        self.addedAtMillis = addedAtMillis
        self.isLost = isLost
    }
}

/// A declared chunk as queries return it.
public struct ChunkInfo: Hashable, Sendable {
    /// The chunk's content hash.
    public var hash: Hash256
    /// Its size in bytes.
    public var sizeBytes: UInt64
    /// How many replicas it should have.
    public var replicationFactor: Int
    /// Who uploaded it.
    public var uploaderID: String
    /// Its DA commitment, if declared.
    public var daCommitment: Hash256?
    /// Its replica entries, ordered by replica index.
    public var replicas: [ReplicaInfo]

    /// Live replicas.
    public var liveReplicaCount: Int { replicas.count { !$0.isLost } }
    /// Whether it has fewer live replicas than its replication factor.
    public var isUnderReplicated: Bool { liveReplicaCount < replicationFactor }
}

/// A zone as queries return it. Zones are derived from node records: a zone exists while a node is in it.
public struct ZoneInfo: Hashable, Sendable {
    /// The zone id.
    public var id: String
    /// Its nodes, sorted by id.
    public var nodeIDs: [String]
    /// The sum of its nodes' capacities.
    public var capacityBytes: UInt64
    /// The sum of bytes of live replicas on its nodes.
    public var storedBytes: UInt64

    /// `storedBytes / capacityBytes` in [0, 1]; 0 when the capacity is zero. For display only.
    public var utilization: Double {
        capacityBytes == 0 ? 0 : min(1, Double(storedBytes) / Double(capacityBytes))
    }
}

/// Counts and identity of a state, for summaries.
public struct StateSummary: Hashable, Sendable {
    /// Registered nodes.
    public var nodes: Int
    /// Zones with at least one node.
    public var zones: Int
    /// Declared chunks.
    public var chunks: Int
    /// Live replicas.
    public var liveReplicas: Int
    /// Lost replicas awaiting repair.
    public var lostReplicas: Int
    /// Chunks with fewer live replicas than their replication factor.
    public var underReplicatedChunks: Int
    /// The content checksum.
    public var checksum: Hash256
}

/// The nodes and zones of a state, without its chunks (`DerivedState.nodeRegistry`).
public struct NodeRegistryView: Sendable {
    fileprivate let state: DerivedState

    /// All registered nodes, sorted by id (their stored bytes and replica counts included).
    public func allNodes() -> [NodeInfo] { state.allNodes() }

    /// Every zone, sorted by id.
    public func zones() -> [ZoneInfo] { state.zones() }
}

/// Everything the coordinator knows, derived only from events: node registry, chunk map, replica map,
/// zone map, node stats and status, and the delivery cursor.
///
/// A value type: copies are independent snapshots, and it is `Sendable`. It is mutated only through
/// `StateMachine`.
public struct DerivedState: Sendable {
    var nodeNames = SymbolTable()
    var zoneNames = SymbolTable()
    var uploaderNames = SymbolTable()
    /// Indexed by node symbol; `nil` for names that are not (or no longer) registered.
    var nodes: [NodeRecord?] = []
    /// Indexed by node symbol.
    var loads: [NodeLoad] = []
    /// Set number = node symbol: the slots (positions in `chunks`) of the chunks each node holds a live
    /// replica of. Only ever used for membership and for visiting chunks whose updates commute; never
    /// for order.
    var nodeChunks = SlotSets()
    var chunks = ChunkTable()
    var registeredNodeCount = 0
    /// The chunks with fewer live replicas than their replication factor, kept as chunks change so the
    /// scheduling loop never scans them all. Their slots in `chunks` (set 0); read out sorted by hash.
    var underReplicated: SlotSets = {
        var sets = SlotSets()
        sets.addSet()
        return sets
    }()

    /// The placement policies published, active and changed (docs/policies.md, the lifecycle).
    var policies = PolicyRegistry()

    /// The delivery bookkeeping.
    public internal(set) var cursor = DeliveryCursor()

    /// An empty state.
    public init() {}

    // MARK: Counts

    /// Registered nodes.
    public var nodeCount: Int { registeredNodeCount }
    /// Declared chunks.
    public var chunkCount: Int { chunks.count }

    // MARK: Nodes

    /// The node with this id, if registered.
    public func node(_ id: String) -> NodeInfo? {
        guard let symbol = nodeNames.lookup(id), let record = nodes[Int(symbol)] else { return nil }
        return info(symbol, record)
    }

    /// The node registry without the chunk table, in O(1): holding it never makes the next apply copy
    /// the chunks (a change to a node copies only the node arrays).
    public var nodeRegistry: NodeRegistryView {
        var registry = self
        registry.chunks = ChunkTable()
        registry.underReplicated.removeAllMembers()
        registry.nodeChunks.removeAllMembers()
        return NodeRegistryView(state: registry)
    }

    /// All registered nodes, sorted by id.
    public func allNodes() -> [NodeInfo] {
        registeredSymbols().compactMap { symbol in nodes[Int(symbol)].map { info(symbol, $0) } }
    }

    /// The nodes in a zone, sorted by id; empty for an unknown zone.
    public func nodes(inZone zone: String) -> [NodeInfo] {
        guard let zoneSymbol = zoneNames.lookup(zone) else { return [] }
        return registeredSymbols().compactMap { symbol in
            guard let record = nodes[Int(symbol)], record.zone == zoneSymbol else { return nil }
            return info(symbol, record)
        }
    }

    /// Registered node symbols sorted by node id (byte-wise).
    func registeredSymbols() -> [UInt32] {
        var symbols = [UInt32]()
        symbols.reserveCapacity(registeredNodeCount)
        for (index, record) in nodes.enumerated() where record != nil { symbols.append(UInt32(index)) }
        return symbols.sorted { utf8Precedes(nodeNames[$0], nodeNames[$1]) }
    }

    private func info(_ symbol: UInt32, _ record: NodeRecord) -> NodeInfo {
        NodeInfo(
            id: nodeNames[symbol], zone: record.zone.map { zoneNames[$0] }, addr: record.addr,
            capacityBytes: record.capacityBytes, status: record.status, stats: record.stats,
            storedBytes: loads[Int(symbol)].storedBytes, liveReplicas: Int(loads[Int(symbol)].liveReplicas))
    }

    // MARK: Chunks and replicas

    /// The chunk with this hash, if declared.
    public func chunk(_ hash: Hash256) -> ChunkInfo? {
        chunks[hash].map { info(hash, $0) }
    }

    /// The replica entries of a chunk ordered by replica index; empty for an unknown chunk.
    public func replicas(of hash: Hash256) -> [ReplicaInfo] { chunk(hash)?.replicas ?? [] }

    /// The chunks a node holds a live replica of, sorted by hash, each once.
    public func chunks(onNode id: String) -> [Hash256] {
        guard let symbol = nodeNames.lookup(id), nodes[Int(symbol)] != nil else { return [] }
        return nodeChunks.members(of: Int(symbol)).map { chunks.hash(at: Int($0)) }.sorted()
    }

    /// All declared chunk hashes, sorted.
    public func allChunkHashes() -> [Hash256] { chunks.entries.map(\.hash).sorted() }

    /// Chunks with fewer live replicas than their replication factor, sorted by hash. Costs in
    /// proportion to their number, not to all chunks: the set is kept up to date as chunks change.
    public func underReplicatedChunks() -> [Hash256] {
        underReplicated.members(of: 0).map { chunks.hash(at: Int($0)) }.sorted()
    }

    /// How many chunks are under-replicated.
    public var underReplicatedCount: Int { underReplicated.count(of: 0) }

    private func info(_ hash: Hash256, _ record: ChunkRecord) -> ChunkInfo {
        let replicas = record.replicas
            .map { ReplicaInfo(nodeID: nodeNames[$0.node], index: $0.index, addedAtMillis: $0.addedAtMillis, isLost: $0.isLost) }
            .sorted { ($0.index, $0.isLost ? 1 : 0) < ($1.index, $1.isLost ? 1 : 0) }
        return ChunkInfo(
            hash: hash, sizeBytes: record.sizeBytes, replicationFactor: Int(record.replicationFactor),
            uploaderID: uploaderNames[record.uploader], daCommitment: record.daCommitment, replicas: replicas)
    }

    // MARK: Zones

    /// All zones with at least one node, sorted by id.
    public func zones() -> [ZoneInfo] {
        var byZone: [UInt32: ZoneInfo] = [:]
        for symbol in registeredSymbols() {
            guard let record = nodes[Int(symbol)], let zone = record.zone else { continue }
            var zoneInfo = byZone[zone] ?? ZoneInfo(id: zoneNames[zone], nodeIDs: [], capacityBytes: 0, storedBytes: 0)
            zoneInfo.nodeIDs.append(nodeNames[symbol])
            zoneInfo.capacityBytes &+= record.capacityBytes
            zoneInfo.storedBytes &+= loads[Int(symbol)].storedBytes
            byZone[zone] = zoneInfo
        }
        return byZone.values.sorted { utf8Precedes($0.id, $1.id) }
    }

    /// One zone; `nil` when no node is in it.
    public func zone(_ id: String) -> ZoneInfo? { zones().first { $0.id == id } }

    /// The sum of capacities of the zone's nodes (0 for an unknown zone).
    public func zoneCapacity(_ id: String) -> UInt64 { zone(id)?.capacityBytes ?? 0 }

    /// The zone's utilization in [0, 1]: 0 for an unknown zone or zero capacity, never NaN.
    public func zoneUtilization(_ id: String) -> Double { zone(id)?.utilization ?? 0 }

    // MARK: Policies

    /// Every published policy version, sorted by name (byte-wise), then version.
    public func policyVersions() -> [PolicyVersionInfo] { policies.sortedVersions() }

    /// One published version.
    public func policyVersion(_ name: String, _ version: UInt32) -> PolicyVersionInfo? {
        policies.versions[PolicyRegistry.Key(name: name, version: version)]
    }

    /// The version that decides placements, if one is active.
    public var placementPolicy: PolicyActivation? { policies.placement }

    /// The version that runs in shadow, if one is active.
    public var shadowPolicy: PolicyActivation? { policies.shadow }

    /// Every change of the registry, oldest first.
    public var policyHistory: [PolicyHistoryEntry] { policies.history }

    // MARK: Consistency

    /// Recomputes every incrementally maintained index (per-node loads and chunk lists, the node count)
    /// from the records and returns a description of each mismatch; empty when consistent. For tests
    /// and `verify`-style audits: it walks the whole state.
    public func indexInconsistencies() -> [String] {
        var problems: [String] = []
        var expected = [NodeLoad](repeating: NodeLoad(), count: loads.count)
        var expectedSlots = [Set<UInt32>](repeating: [], count: loads.count)
        var under = Set<UInt32>()
        for (slot, entry) in chunks.entries.enumerated() {
            let record = entry.record
            if record.isUnderReplicated { under.insert(UInt32(slot)) }
            for replica in record.replicas where !replica.isLost {
                expected[Int(replica.node)].storedBytes &+= record.sizeBytes
                expected[Int(replica.node)].liveReplicas &+= 1
                expectedSlots[Int(replica.node)].insert(UInt32(slot))
            }
        }
        for symbol in loads.indices {
            let slots = Set(nodeChunks.members(of: symbol))
            guard
                loads[symbol] != expected[symbol] || slots != expectedSlots[symbol]
                    || slots.count != nodeChunks.count(of: symbol)
            else { continue }
            problems.append(
                "node \(nodeNames[UInt32(symbol)]): load \(loads[symbol].storedBytes)/\(loads[symbol].liveReplicas)/\(slots.count) but records say \(expected[symbol].storedBytes)/\(expected[symbol].liveReplicas)/\(expectedSlots[symbol].count)"
            )
        }
        let registered = nodes.count { $0 != nil }
        if registered != registeredNodeCount {
            problems.append("node count \(registeredNodeCount) but \(registered) records")
        }
        let held = Set(underReplicated.members(of: 0))
        if held != under || held.count != underReplicated.count(of: 0) {
            problems.append("under-replicated set holds \(underReplicated.count(of: 0)) chunks but records say \(under.count)")
        }
        return problems
    }

    // MARK: Summary

    /// Counts and the content checksum.
    public func summary() -> StateSummary {
        var live = 0
        var lost = 0
        var under = 0
        for record in chunks.entries.lazy.map(\.record) {
            let liveHere = record.liveReplicaCount
            live += liveHere
            lost += record.replicas.count - liveHere
            if liveHere < Int(record.replicationFactor) { under += 1 }
        }
        return StateSummary(
            nodes: registeredNodeCount, zones: zones().count, chunks: chunks.count, liveReplicas: live,
            lostReplicas: lost, underReplicatedChunks: under, checksum: checksum())
    }
}
