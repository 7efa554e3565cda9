/// The status of a storage node.
public enum NodeStatus: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Serving and eligible for new replicas.
    case active = 0
    /// Serving its replicas; schedulers place no new replicas on it. A `ReplicaAdded` it reports is
    /// still recorded: the event states a fact about where data is.
    case draining = 1
    /// Unreachable: its replicas are marked lost.
    case down = 2

    /// `active`, `draining` or `down`.
    public var description: String {
        switch self {
        case .active: "active"
        case .draining: "draining"
        case .down: "down"
        }
    }

    /// Parses `active`, `draining` or `down`.
    public init?(name: String) {
        guard let status = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = status
    }
}

/// Workload figures a node reports, in fixed point: no floating point ever enters derived state.
public struct NodeStats: Hashable, Sendable {
    /// Free CPU in thousandths of a core (0.8 cores free → 800).
    public var cpuFreeMilli: UInt32
    /// Free RAM in MiB.
    public var ramFreeMB: UInt64
    /// Free GPUs in thousandths (1 GPU free → 1000).
    public var gpuFreeMilli: UInt32
    /// Round-trip latency in microseconds (5 ms → 5000).
    public var latencyMicros: UInt32
    /// I/O pressure in thousandths (0.1 → 100).
    public var ioPressureMilli: UInt32
    /// Bytes used on the node's storage as the node sees it.
    public var usedBytes: UInt64
    /// When the figures were measured, in Unix milliseconds (data carried by the event, not a clock).
    public var reportedAtMillis: UInt64

    /// Creates a stats record.
    public init(
        cpuFreeMilli: UInt32, ramFreeMB: UInt64, gpuFreeMilli: UInt32, latencyMicros: UInt32,
        ioPressureMilli: UInt32, usedBytes: UInt64, reportedAtMillis: UInt64
    ) {
        self.cpuFreeMilli = cpuFreeMilli
        self.ramFreeMB = ramFreeMB
        self.gpuFreeMilli = gpuFreeMilli
        self.latencyMicros = latencyMicros
        self.ioPressureMilli = ioPressureMilli
        self.usedBytes = usedBytes
        self.reportedAtMillis = reportedAtMillis
    }
}

/// Which policy decision produced a replica: carried by `ReplicaAdded` events the scheduler publishes.
public struct PlacementProvenance: Hashable, Sendable {
    /// The policy's declared name.
    public var policyName: String
    /// The policy's declared version.
    public var policyVersion: UInt32
    /// SHA-256 of the policy source.
    public var policySourceHash: Hash256
    /// SHA-256 digest of the decision's inputs.
    public var inputDigest: Hash256
    /// What re-executing the decision needs beyond the policy version: absent in placements recorded
    /// before the policy registry (they cannot be audited).
    public var context: PlacementContext?

    /// Creates a provenance record.
    public init(
        policyName: String, policyVersion: UInt32, policySourceHash: Hash256, inputDigest: Hash256,
        context: PlacementContext? = nil
    ) {
        self.policyName = policyName
        self.policyVersion = policyVersion
        self.policySourceHash = policySourceHash
        self.inputDigest = inputDigest
        self.context = context
    }
}

/// The rest of what a placement was decided on: the parameter set, the snapshot, and the engine.
public struct PlacementContext: Hashable, Sendable {
    /// The digest of the parameter values in force (`PolicyVersionInfo.parametersDigest`).
    public var parametersDigest: Hash256
    /// The DA height of the state the decision read.
    public var snapshotHeight: UInt64
    /// The coordinator and Lua release that decided, e.g. `dsdn-coordinator 0.4.0; Lua 5.4.4`:
    /// instruction counts (and so budget outcomes) may differ between Lua releases.
    public var engine: String

    /// Creates a context.
    public init(parametersDigest: Hash256, snapshotHeight: UInt64, engine: String) {
        self.parametersDigest = parametersDigest
        self.snapshotHeight = snapshotHeight
        self.engine = engine
    }
}

/// The wire type code of an event (docs/events.md). Codes are never reused.
public enum EventType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `NodeRegistered`.
    case nodeRegistered = 1
    /// `NodeUnregistered`.
    case nodeUnregistered = 2
    /// `ChunkDeclared`.
    case chunkDeclared = 3
    /// `ChunkRemoved`.
    case chunkRemoved = 4
    /// `ReplicaAdded`.
    case replicaAdded = 5
    /// `ReplicaRemoved`.
    case replicaRemoved = 6
    /// `ZoneAssigned`.
    case zoneAssigned = 7
    /// `ZoneUnassigned`.
    case zoneUnassigned = 8
    /// `NodeStatsReported`.
    case nodeStatsReported = 9
    /// `NodeStatusChanged`.
    case nodeStatusChanged = 10
    /// `PolicyPublished`.
    case policyPublished = 11
    /// `PolicyActivated`.
    case policyActivated = 12
    /// `PolicyParamsSet`.
    case policyParamsSet = 13

    /// The event's name as used in JSON Lines and docs, e.g. `NodeRegistered`.
    public var description: String {
        switch self {
        case .nodeRegistered: "NodeRegistered"
        case .nodeUnregistered: "NodeUnregistered"
        case .chunkDeclared: "ChunkDeclared"
        case .chunkRemoved: "ChunkRemoved"
        case .replicaAdded: "ReplicaAdded"
        case .replicaRemoved: "ReplicaRemoved"
        case .zoneAssigned: "ZoneAssigned"
        case .zoneUnassigned: "ZoneUnassigned"
        case .nodeStatsReported: "NodeStatsReported"
        case .nodeStatusChanged: "NodeStatusChanged"
        case .policyPublished: "PolicyPublished"
        case .policyActivated: "PolicyActivated"
        case .policyParamsSet: "PolicyParamsSet"
        }
    }

    /// Parses an event name such as `ChunkDeclared`.
    public init?(name: String) {
        guard let type = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = type
    }
}

/// One event of the catalogue (format version 1). Events carry all the data a handler needs, including
/// time, so applying them is a pure function.
public enum Event: Hashable, Sendable {
    /// A storage node joined (or re-registered with new details).
    case nodeRegistered(nodeID: String, zone: String, addr: String, capacityBytes: UInt64)
    /// A storage node left; its replicas are marked lost.
    case nodeUnregistered(nodeID: String)
    /// A chunk was declared with its metadata.
    case chunkDeclared(
        hash: Hash256, sizeBytes: UInt64, replicationFactor: UInt8, uploaderID: String, daCommitment: Hash256?)
    /// A chunk and all its replicas were removed.
    case chunkRemoved(hash: Hash256)
    /// A node holds a replica of a chunk at a replica index.
    case replicaAdded(
        hash: Hash256, nodeID: String, replicaIndex: UInt8, addedAtMillis: UInt64, provenance: PlacementProvenance?)
    /// A node no longer holds its replica of a chunk.
    case replicaRemoved(hash: Hash256, nodeID: String)
    /// A node was put in a zone (moving it out of its previous zone).
    case zoneAssigned(zone: String, nodeID: String)
    /// A node was taken out of a zone.
    case zoneUnassigned(zone: String, nodeID: String)
    /// A node reported its workload figures.
    case nodeStatsReported(nodeID: String, stats: NodeStats)
    /// A node's status changed.
    case nodeStatusChanged(nodeID: String, status: NodeStatus)
    /// A version of a placement policy was published: its whole source and declaration.
    case policyPublished(PolicyRelease)
    /// A published version was made the placement policy, or the shadow (version 0 with role `shadow`:
    /// no shadow).
    case policyActivated(name: String, version: UInt32, role: PolicyRole)
    /// New values for some parameters of a published version.
    case policyParamsSet(name: String, version: UInt32, parameters: [PolicyParameter])

    /// The wire type of this event.
    public var type: EventType {
        switch self {
        case .nodeRegistered: .nodeRegistered
        case .nodeUnregistered: .nodeUnregistered
        case .chunkDeclared: .chunkDeclared
        case .chunkRemoved: .chunkRemoved
        case .replicaAdded: .replicaAdded
        case .replicaRemoved: .replicaRemoved
        case .zoneAssigned: .zoneAssigned
        case .zoneUnassigned: .zoneUnassigned
        case .nodeStatsReported: .nodeStatsReported
        case .nodeStatusChanged: .nodeStatusChanged
        case .policyPublished: .policyPublished
        case .policyActivated: .policyActivated
        case .policyParamsSet: .policyParamsSet
        }
    }
}

/// Hard limits of format version 1, checked before anything is allocated.
public enum Limits {
    /// The largest blob the decoder accepts (8 MiB, Celestia's largest pay-for-blob transaction).
    public static let maxBlobBytes = 8 << 20
    /// The most events one blob may carry.
    public static let maxEventsPerBlob = 100_000
    /// The longest identifier (node id, zone, uploader id, publisher id, policy name), in bytes.
    public static let maxIdentifierBytes = 128
    /// The longest node address, in bytes.
    public static let maxAddressBytes = 255
    /// The largest replication factor.
    public static let maxReplicationFactor: UInt8 = 32
    /// The longest policy source, in bytes.
    public static let maxPolicySourceBytes = 1 << 20
    /// The most parameters a policy version declares or one `PolicyParamsSet` sets.
    public static let maxPolicyParameters = 64
    /// The longest string parameter value, in bytes.
    public static let maxParameterStringBytes = 1_024
    /// The instruction budget a policy may declare (the sandbox's own range).
    public static let policyInstructionBudget: ClosedRange<UInt64> = 10_000...50_000_000
    /// The memory budget a policy may declare, in bytes (the sandbox's own range).
    public static let policyMemoryBudget: ClosedRange<UInt64> = (64 << 10)...(64 << 20)
}
