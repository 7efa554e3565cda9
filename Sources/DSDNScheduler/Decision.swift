import DSDNCore
import LuaSandbox
import Synchronization

/// The chunk a placement is for, with the replicas it already has.
public struct ChunkRequest: Hashable, Sendable {
    /// The chunk's hash.
    public var hash: Hash256
    /// Its size in bytes.
    public var sizeBytes: UInt64
    /// Its replication factor.
    public var replicationFactor: Int
    /// Nodes holding a live replica now (never chosen again).
    public var holders: [String]
    /// How many replicas to place: the replication factor minus the live replicas, unless overridden.
    public var want: Int

    /// Creates a request; `want` defaults to what is missing.
    public init(hash: Hash256, sizeBytes: UInt64, replicationFactor: Int, holders: [String] = [], want: Int? = nil) {
        self.hash = hash
        self.sizeBytes = sizeBytes
        self.replicationFactor = replicationFactor
        self.holders = holders.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        self.want = max(0, want ?? replicationFactor - holders.count)
    }

    /// The request for a declared chunk: its live replicas are the holders (lost ones are to repair).
    public init?(chunk hash: Hash256, in state: DerivedState) {
        guard let chunk = state.chunk(hash) else { return nil }
        self.init(
            hash: hash, sizeBytes: chunk.sizeBytes, replicationFactor: chunk.replicationFactor,
            holders: chunk.replicas.filter { !$0.isLost }.map(\.nodeID))
    }
}

/// What the policy said about one node.
public struct NodeVerdict: Hashable, Sendable {
    /// The node.
    public var nodeID: String
    /// Whether it passed the host's rule and the filter.
    public var passed: Bool
    /// Why not, when it did not pass.
    public var reason: String?
    /// Its score, when it passed.
    public var score: Double?
    /// The score's terms as the policy explained them, sorted by name.
    public var terms: [(name: String, value: Double)]
    /// Its rank among the candidates (1 = best), when it passed.
    public var rank: Int?

    /// Equality of all fields.
    public static func == (lhs: NodeVerdict, rhs: NodeVerdict) -> Bool {
        lhs.nodeID == rhs.nodeID && lhs.passed == rhs.passed && lhs.reason == rhs.reason && lhs.score == rhs.score
            && lhs.rank == rhs.rank && lhs.terms.elementsEqual(rhs.terms) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Hashes the node and verdict.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(nodeID)
        hasher.combine(passed)
        hasher.combine(score)
    }
}

/// A placement decision with its explanation and identity.
public struct PlacementDecision: Hashable, Sendable {
    /// The policy's name.
    public var policyName: String
    /// The policy's version.
    public var policyVersion: UInt32
    /// SHA-256 of the policy's source.
    public var policySourceHash: Hash256
    /// SHA-256 of the decision's canonical input (chunk, nodes, zones, parameters).
    public var inputDigest: Hash256
    /// The seed `math.random` was given, derived from the policy hash and the input digest.
    public var seed: Int64
    /// The chosen nodes, best first.
    public var chosen: [String]
    /// One verdict per node, sorted by node id.
    public var verdicts: [NodeVerdict]
    /// How many replicas were wanted.
    public var want: Int
    /// Instructions the decision used.
    public var instructions: UInt64
    /// Peak memory of the decision above its inputs.
    public var peakMemory: UInt64
    /// SHA-256 over the policy identity, the input digest and the exact result bytes.
    public var digest: Hash256

    /// The provenance to attach to the `ReplicaAdded` events this decision produces.
    public var provenance: PlacementProvenance {
        PlacementProvenance(
            policyName: policyName, policyVersion: policyVersion, policySourceHash: policySourceHash, inputDigest: inputDigest)
    }
}

/// Builds decision inputs from a state snapshot. Node records are encoded once per snapshot and
/// reused for every decision (only `holds` and `eligible` depend on the chunk).
public struct DecisionInputs: Sendable {
    /// The node ids, sorted bytewise.
    public let nodeIDs: [String]
    /// Whether each node is active (the host's own rule, before any policy runs).
    let active: [Bool]
    /// The nodes' encodings, made on first use: API level 1 needs two per node (holding the chunk or
    /// not), level 2 one (without chunk fields); a snapshot pays only for the level it is used with.
    private let encodings: NodeEncodings
    private let zones: LuaValue
    private let nodeIndex: [String: Int]

    /// Prepares inputs from a state.
    public init(state: DerivedState) {
        self.init(nodes: state.allNodes(), zones: state.zones())
    }

    /// Prepares inputs from a state's nodes (sorted by id) and zones, taken without holding the state.
    public init(nodes: [NodeInfo], zones: [ZoneInfo]) {
        self.init(nodes: nodes.map(NodeInput.init), zones: zones.map(ZoneInput.init))
    }

    /// Prepares inputs from typed nodes, in id order, and zones: the one place every input is built
    /// from (a state's registry, a policy's examples, the probe's cluster).
    public init(nodes: [NodeInput], zones: [ZoneInput]) {
        nodeIDs = nodes.map(\.id)
        active = nodes.map { $0.status == .active }
        var index: [String: Int] = [:]
        for (offset, node) in nodes.enumerated() { index[node.id] = offset }
        nodeIndex = index
        encodings = NodeEncodings(nodes: nodes)
        self.zones = .array(zones.map(\.record))
    }

    /// The canonical input bytes of a decision, without and with the seed.
    func encode(chunk: ChunkRequest, parameters: [(name: String, value: ParameterValue)], seed: Int64?) -> [UInt8] {
        let holders = Set(chunk.holders)
        var context: [(String, LuaValue)] = [
            (
                "chunk",
                .record([
                    ("hash", .string(chunk.hash.hex)), ("size", .integer(Int64(clamping: chunk.sizeBytes))),
                    ("replicas", .integer(Int64(chunk.replicationFactor))), ("holders", .array(chunk.holders.map(LuaValue.string))),
                ])
            ),
            ("want", .integer(Int64(chunk.want))),
            ("params", .record(parameters.map { ($0.name, $0.value.luaValue) })),
            ("zones", zones),
        ]
        if let seed { context.append(("seed", .integer(seed))) }
        // The top level is a map with keys "ctx" < "nodes": write it by hand around the cached nodes.
        var bytes = PolicySandbox.encode(.map([(.string("ctx"), .record(context)), (.string("nodes"), .array([]))]))
        bytes.removeLast(4)  // the empty array's count, rewritten below
        var count = UInt32(nodeIDs.count).littleEndian
        withUnsafeBytes(of: &count) { bytes.append(contentsOf: $0) }
        let encoded = encodings.levelOne
        for (offset, id) in nodeIDs.enumerated() {
            bytes.append(contentsOf: holders.contains(id) ? encoded[offset].holding : encoded[offset].free)
        }
        return bytes
    }

    /// API level 2: the snapshot's canonical bytes, `{ctx = {params, zones}, nodes}`, prepared once.
    func encodeSnapshot(parameters: [(name: String, value: ParameterValue)]) -> [UInt8] {
        let context = LuaValue.record([("params", .record(parameters.map { ($0.name, $0.value.luaValue) })), ("zones", zones)])
        var bytes = PolicySandbox.encode(.map([(.string("ctx"), context), (.string("nodes"), .array([]))]))
        bytes.removeLast(4)  // the empty array's count, rewritten below
        var count = UInt32(nodeIDs.count).littleEndian
        withUnsafeBytes(of: &count) { bytes.append(contentsOf: $0) }
        for node in encodings.levelTwo { bytes.append(contentsOf: node) }
        return bytes
    }

    /// API level 2: one decision's own canonical bytes, `{chunk, want}`.
    static func encodeChunk(_ chunk: ChunkRequest) -> [UInt8] {
        PolicySandbox.encode(
            .record([
                (
                    "chunk",
                    .record([
                        ("hash", .string(chunk.hash.hex)), ("size", .integer(Int64(clamping: chunk.sizeBytes))),
                        ("replicas", .integer(Int64(chunk.replicationFactor))), ("holders", .array(chunk.holders.map(LuaValue.string))),
                    ])
                ),
                ("want", .integer(Int64(chunk.want))),
            ]))
    }

    func index(of id: String) -> Int? { nodeIndex[id] }
}

/// The transport encodings of a snapshot's node records, each kind made once, on first use, by whichever
/// thread asks first (the others wait for it).
private final class NodeEncodings: Sendable {
    private let nodes: [NodeInput]
    private let holdingOrNot = Mutex<[(free: [UInt8], holding: [UInt8])]?>(nil)
    private let withoutChunk = Mutex<[[UInt8]]?>(nil)

    init(nodes: [NodeInput]) { self.nodes = nodes }

    /// API level 1: each node not holding and holding the chunk (`holds`, `eligible` set).
    var levelOne: [(free: [UInt8], holding: [UInt8])] {
        holdingOrNot.withLock { cached in
            if let cached { return cached }
            let encoded = nodes.map { node in
                (PolicySandbox.encode(node.record(holds: false)), PolicySandbox.encode(node.record(holds: true)))
            }
            cached = encoded
            return encoded
        }
    }

    /// API level 2: each node without the chunk's fields.
    var levelTwo: [[UInt8]] {
        withoutChunk.withLock { cached in
            if let cached { return cached }
            let encoded = nodes.map { PolicySandbox.encode($0.record()) }
            cached = encoded
            return encoded
        }
    }
}
