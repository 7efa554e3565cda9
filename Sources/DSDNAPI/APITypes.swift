import DSDNJSON

// The bodies of the coordinator's HTTP API (docs/operations.md §API), field for field as they go on the
// wire: snake_case keys, `null` where the API writes `null`, absent where it leaves a field out.

/// Every error answer: `{"error":{"code":"…","message":"…"}}`.
public struct APIErrorBody: Codable, Sendable, Hashable {
    /// The error.
    public struct Detail: Codable, Sendable, Hashable {
        /// A stable code (`not_found`, `invalid_request`, `unauthorized`, …).
        public var code: String
        /// A one-line message for an operator.
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// The error.
    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// `GET /health` (200 when ready, 503 otherwise, with the same body).
public struct HealthResponse: Codable, Sendable, Hashable {
    /// The DA backend's own health.
    public struct DA: Codable, Sendable, Hashable {
        public var ready: Bool
        public var detail: String
        /// The DA head, `null` when unknown.
        @EncodedAsNull public var head: UInt64?

        public init(ready: Bool, detail: String, head: UInt64?) {
            self.ready = ready
            self.detail = detail
            self.head = head
        }
    }

    /// The coordinator's phase: `starting`, `ready`, `stopping`, `failed`, `stopped`.
    public var status: String
    public var appliedHeight: UInt64
    public var head: UInt64
    public var lag: UInt64
    /// The DA consumer: `idle`, `catching_up`, `following`, `degraded: …`, `failed: …`, `stopped`.
    public var consumer: String
    public var publishBacklog: Int
    public var da: DA
    /// Why the coordinator failed (absent unless it did).
    public var failure: String?
    /// Why the publisher halted (absent unless it did).
    public var publisherHalted: String?
    /// Why the outbox cannot record (a full disk, an I/O error); absent once it records again.
    public var outboxFailure: String?
    /// Why submits to the DA fail while they are retried; absent once one lands.
    public var publisherDegraded: String?
    /// The last policy error (absent when none).
    public var lastPolicyError: String?

    enum CodingKeys: String, CodingKey {
        case status, head, lag, consumer, da, failure
        case appliedHeight = "applied_height"
        case publishBacklog = "publish_backlog"
        case publisherHalted = "publisher_halted"
        case outboxFailure = "outbox_failure"
        case publisherDegraded = "publisher_degraded"
        case lastPolicyError = "last_policy_error"
    }

    public init(
        status: String, appliedHeight: UInt64, head: UInt64, lag: UInt64, consumer: String, publishBacklog: Int, da: DA,
        failure: String? = nil, publisherHalted: String? = nil, outboxFailure: String? = nil, publisherDegraded: String? = nil,
        lastPolicyError: String? = nil
    ) {
        self.status = status
        self.appliedHeight = appliedHeight
        self.head = head
        self.lag = lag
        self.consumer = consumer
        self.publishBacklog = publishBacklog
        self.da = da
        self.failure = failure
        self.publisherHalted = publisherHalted
        self.outboxFailure = outboxFailure
        self.publisherDegraded = publisherDegraded
        self.lastPolicyError = lastPolicyError
    }
}

/// `GET /v1/state`: heights, sequence, checksum, counts. Built field by field (`StateResponse()` then
/// assignments): it has many.
public struct StateResponse: Codable, Sendable, Hashable {
    /// A blob the consumer refused recently.
    public struct Rejection: Codable, Sendable, Hashable {
        public var height: UInt64
        public var index: UInt32
        public var reason: String
        public var message: String

        public init(height: UInt64, index: UInt32, reason: String, message: String) {
            self.height = height
            self.index = index
            self.reason = reason
            self.message = message
        }
    }

    public var phase = ""
    public var appliedHeight: UInt64 = 0
    public var head: UInt64 = 0
    public var lag: UInt64 = 0
    /// The state checksum, 64 hex digits.
    public var checksum = ""
    public var nodes = 0
    public var zones = 0
    public var chunks = 0
    public var liveReplicas = 0
    public var lostReplicas = 0
    public var underReplicatedChunks = 0
    public var eventsApplied: UInt64 = 0
    public var blobsApplied: UInt64 = 0
    public var blobsDuplicate: UInt64 = 0
    public var blobsRejected: UInt64 = 0
    public var placementsSuperseded: UInt64 = 0
    public var publisherID = ""
    public var publisherSequence: UInt64 = 0
    public var publishBacklog = 0
    public var outboxEvents = 0
    /// The DA namespace, as hex.
    public var namespace = ""
    public var placementsPublished: UInt64 = 0
    public var policyErrors: UInt64 = 0
    public var ownBlobsRefused: UInt64 = 0
    public var eventsRepublished: UInt64 = 0
    public var eventsDropped: UInt64 = 0
    /// The active policy (`name@version`), `null` without one.
    @EncodedAsNull public var policy: String? = nil
    public var recentRejections: [Rejection] = []

    enum CodingKeys: String, CodingKey {
        case phase, head, lag, checksum, nodes, zones, chunks, namespace, policy
        case appliedHeight = "applied_height"
        case liveReplicas = "live_replicas"
        case lostReplicas = "lost_replicas"
        case underReplicatedChunks = "under_replicated_chunks"
        case eventsApplied = "events_applied"
        case blobsApplied = "blobs_applied"
        case blobsDuplicate = "blobs_duplicate"
        case blobsRejected = "blobs_rejected"
        case placementsSuperseded = "placements_superseded"
        case publisherID = "publisher_id"
        case publisherSequence = "publisher_sequence"
        case publishBacklog = "publish_backlog"
        case outboxEvents = "outbox_events"
        case placementsPublished = "placements_published"
        case policyErrors = "policy_errors"
        case ownBlobsRefused = "own_blobs_refused"
        case eventsRepublished = "events_republished"
        case eventsDropped = "events_dropped"
        case recentRejections = "recent_rejections"
    }

    public init() {}
}

/// One node: `GET /v1/nodes/{id}` and the elements of `GET /v1/nodes`.
public struct NodeResponse: Codable, Sendable, Hashable {
    /// The node's last reported stats.
    public struct Stats: Codable, Sendable, Hashable {
        public var cpuFreeMilli: UInt32
        public var ramFreeMB: UInt64
        public var gpuFreeMilli: UInt32
        public var latencyMicros: UInt32
        public var ioPressureMilli: UInt32
        public var usedBytes: UInt64
        public var reportedAtMillis: UInt64

        enum CodingKeys: String, CodingKey {
            case cpuFreeMilli = "cpu_free_milli"
            case ramFreeMB = "ram_free_mb"
            case gpuFreeMilli = "gpu_free_milli"
            case latencyMicros = "latency_us"
            case ioPressureMilli = "io_pressure_milli"
            case usedBytes = "used_bytes"
            case reportedAtMillis = "reported_at"
        }

        public init(
            cpuFreeMilli: UInt32, ramFreeMB: UInt64, gpuFreeMilli: UInt32, latencyMicros: UInt32, ioPressureMilli: UInt32,
            usedBytes: UInt64, reportedAtMillis: UInt64
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

    public var id: String
    /// The node's zone, `null` when it has none.
    @EncodedAsNull public var zone: String?
    public var addr: String
    public var capacityBytes: UInt64
    /// `active`, `draining` or `down`.
    public var status: String
    public var storedBytes: UInt64
    public var liveReplicas: Int
    /// Absent until the node reported stats.
    public var stats: Stats?

    enum CodingKeys: String, CodingKey {
        case id, zone, addr, status, stats
        case capacityBytes = "capacity_bytes"
        case storedBytes = "stored_bytes"
        case liveReplicas = "live_replicas"
    }

    public init(
        id: String, zone: String?, addr: String, capacityBytes: UInt64, status: String, storedBytes: UInt64, liveReplicas: Int,
        stats: Stats?
    ) {
        self.id = id
        self.zone = zone
        self.addr = addr
        self.capacityBytes = capacityBytes
        self.status = status
        self.storedBytes = storedBytes
        self.liveReplicas = liveReplicas
        self.stats = stats
    }
}

/// `GET /v1/nodes` (`?zone=`, `?limit=`, `?after=`).
public struct NodesResponse: Codable, Sendable, Hashable {
    public var nodes: [NodeResponse]
    public var count: Int
    /// The `after` of the next page (absent on the last page).
    public var nextAfter: String?

    enum CodingKeys: String, CodingKey {
        case nodes, count
        case nextAfter = "next_after"
    }

    public init(nodes: [NodeResponse], count: Int, nextAfter: String? = nil) {
        self.nodes = nodes
        self.count = count
        self.nextAfter = nextAfter
    }
}

/// The query of `GET /v1/nodes`.
public struct NodesQuery: Sendable, Hashable {
    /// Only nodes in this zone.
    public var zone: String?
    /// At most this many nodes (default 1,000).
    public var limit: Int
    /// Only nodes whose id sorts after this one (the previous page's `next_after`).
    public var after: String?

    /// The default page size.
    public static let defaultLimit = 1_000

    public init(zone: String? = nil, limit: Int = NodesQuery.defaultLimit, after: String? = nil) {
        self.zone = zone
        self.limit = limit
        self.after = after
    }

    /// Parses the query parameters (`get` reads one by name); a `limit` that is not a positive integer
    /// is refused.
    public init(_ get: (String) -> String?) throws(APIRequestError) {
        let limit = get("limit").map { Int($0) } ?? NodesQuery.defaultLimit
        guard let limit, limit > 0 else { throw APIRequestError("limit must be a positive integer") }
        self.init(zone: get("zone"), limit: limit, after: get("after"))
    }
}

/// `GET /v1/chunks/{hash}`.
public struct ChunkResponse: Codable, Sendable, Hashable {
    /// One replica of the chunk.
    public struct Replica: Codable, Sendable, Hashable {
        public var nodeID: String
        public var replicaIndex: Int
        public var addedAt: UInt64
        public var lost: Bool

        enum CodingKeys: String, CodingKey {
            case lost
            case nodeID = "node_id"
            case replicaIndex = "replica_index"
            case addedAt = "added_at"
        }

        public init(nodeID: String, replicaIndex: Int, addedAt: UInt64, lost: Bool) {
            self.nodeID = nodeID
            self.replicaIndex = replicaIndex
            self.addedAt = addedAt
            self.lost = lost
        }
    }

    public var hash: String
    public var sizeBytes: UInt64
    public var replicationFactor: Int
    public var uploaderID: String
    /// The DA commitment, `null` when none was declared.
    @EncodedAsNull public var daCommitment: String?
    public var liveReplicas: Int
    public var underReplicated: Bool
    public var replicas: [Replica]

    enum CodingKeys: String, CodingKey {
        case hash, replicas
        case sizeBytes = "size_bytes"
        case replicationFactor = "replication_factor"
        case uploaderID = "uploader_id"
        case daCommitment = "da_commitment"
        case liveReplicas = "live_replicas"
        case underReplicated = "under_replicated"
    }

    public init(
        hash: String, sizeBytes: UInt64, replicationFactor: Int, uploaderID: String, daCommitment: String?, liveReplicas: Int,
        underReplicated: Bool, replicas: [Replica]
    ) {
        self.hash = hash
        self.sizeBytes = sizeBytes
        self.replicationFactor = replicationFactor
        self.uploaderID = uploaderID
        self.daCommitment = daCommitment
        self.liveReplicas = liveReplicas
        self.underReplicated = underReplicated
        self.replicas = replicas
    }
}

/// `GET /v1/zones`.
public struct ZonesResponse: Codable, Sendable, Hashable {
    /// One zone.
    public struct Zone: Codable, Sendable, Hashable {
        public var id: String
        public var nodes: [String]
        public var capacityBytes: UInt64
        public var storedBytes: UInt64
        public var utilization: Double

        enum CodingKeys: String, CodingKey {
            case id, nodes, utilization
            case capacityBytes = "capacity_bytes"
            case storedBytes = "stored_bytes"
        }

        public init(id: String, nodes: [String], capacityBytes: UInt64, storedBytes: UInt64, utilization: Double) {
            self.id = id
            self.nodes = nodes
            self.capacityBytes = capacityBytes
            self.storedBytes = storedBytes
            self.utilization = utilization
        }
    }

    public var zones: [Zone]

    public init(zones: [Zone]) { self.zones = zones }
}

/// `POST /v1/events`: 202 when the events are durable in the outbox, 200 with `height` and `sequence`
/// when `?wait=true` waited for their inclusion. (The request body is JSON Lines or a JSON array of
/// events, docs/events.md, parsed by `EventJSON`.)
public struct EventsResponse: Codable, Sendable, Hashable {
    /// Events accepted.
    public var accepted: Int
    /// Their ids in the coordinator's outbox.
    public var ids: [UInt64]
    /// Always `true`: accepted events survive a restart.
    public var durable: Bool
    /// The DA height their blob landed at (with `wait`).
    public var height: UInt64?
    /// The blob's publisher sequence (with `wait`).
    public var sequence: UInt64?

    public init(accepted: Int, ids: [UInt64], durable: Bool = true, height: UInt64? = nil, sequence: UInt64? = nil) {
        self.accepted = accepted
        self.ids = ids
        self.durable = durable
        self.height = height
        self.sequence = sequence
    }
}

/// `GET /v1/events/{id}`: what became of an accepted event. `fate` is `pending`, `applied` (with
/// `height` and `sequence`) or `refused` (with `height`, where its blob was rejected, and `reason`).
public struct EventFateResponse: Codable, Sendable, Hashable {
    public var id: UInt64
    public var fate: String
    public var height: UInt64?
    public var sequence: UInt64?
    public var reason: String?

    public init(id: UInt64, fate: String, height: UInt64? = nil, sequence: UInt64? = nil, reason: String? = nil) {
        self.id = id
        self.fate = fate
        self.height = height
        self.sequence = sequence
        self.reason = reason
    }
}

/// The body of `POST /v1/placement/preview`: `chunk_hash` of a declared chunk, or `size_bytes` and
/// `replication_factor` (with optional `holders`); optional `want`, `params` and `explain`. Unknown fields
/// are refused.
public struct PreviewRequest: Codable, Sendable, Hashable {
    public var chunkHash: String?
    public var sizeBytes: UInt64?
    public var replicationFactor: Int?
    public var holders: [String]?
    public var want: Int?
    /// Policy parameter overrides: numbers, booleans or strings.
    public var params: [String: JSONValue]?
    public var explain: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case holders, want, params, explain
        case chunkHash = "chunk_hash"
        case sizeBytes = "size_bytes"
        case replicationFactor = "replication_factor"
    }

    public init(
        chunkHash: String? = nil, sizeBytes: UInt64? = nil, replicationFactor: Int? = nil, holders: [String]? = nil,
        want: Int? = nil, params: [String: JSONValue]? = nil, explain: Bool? = nil
    ) {
        self.chunkHash = chunkHash
        self.sizeBytes = sizeBytes
        self.replicationFactor = replicationFactor
        self.holders = holders
        self.want = want
        self.params = params
        self.explain = explain
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        chunkHash = try container.decodeIfPresent(String.self, forKey: .chunkHash)
        sizeBytes = try container.decodeIntegerIfPresent(UInt64.self, forKey: .sizeBytes)
        replicationFactor = try container.decodeIntegerIfPresent(Int.self, forKey: .replicationFactor)
        holders = try container.decodeIfPresent([String].self, forKey: .holders)
        want = try container.decodeIntegerIfPresent(Int.self, forKey: .want)
        params = try container.decodeIfPresent([String: JSONValue].self, forKey: .params)
        explain = try container.decodeIfPresent(Bool.self, forKey: .explain)
    }
}

/// The answer of `POST /v1/placement/preview`.
public struct PreviewResponse: Codable, Sendable, Hashable {
    /// One node's verdict (with `"explain": true`).
    public struct Verdict: Codable, Sendable, Hashable {
        public var nodeID: String
        public var passed: Bool
        /// Why the filter excluded the node (absent when it passed).
        public var reason: String?
        public var score: Double?
        public var rank: Int?
        /// The score's named terms (absent when there are none).
        public var terms: [String: Double]?

        enum CodingKeys: String, CodingKey {
            case passed, reason, score, rank, terms
            case nodeID = "node_id"
        }

        public init(
            nodeID: String, passed: Bool, reason: String? = nil, score: Double? = nil, rank: Int? = nil, terms: [String: Double]? = nil
        ) {
            self.nodeID = nodeID
            self.passed = passed
            self.reason = reason
            self.score = score
            self.rank = rank
            self.terms = terms
        }
    }

    public var policy: String
    public var policyVersion: UInt32
    public var policySourceHash: String
    public var inputDigest: String
    public var digest: String
    public var want: Int
    public var chosen: [String]
    public var instructions: UInt64
    public var peakMemory: UInt64
    /// Every node's verdict, with `"explain": true` (absent otherwise).
    public var verdicts: [Verdict]?

    enum CodingKeys: String, CodingKey {
        case policy, digest, want, chosen, instructions, verdicts
        case policyVersion = "policy_version"
        case policySourceHash = "policy_source_hash"
        case inputDigest = "input_digest"
        case peakMemory = "peak_memory"
    }

    public init(
        policy: String, policyVersion: UInt32, policySourceHash: String, inputDigest: String, digest: String, want: Int,
        chosen: [String], instructions: UInt64, peakMemory: UInt64, verdicts: [Verdict]? = nil
    ) {
        self.policy = policy
        self.policyVersion = policyVersion
        self.policySourceHash = policySourceHash
        self.inputDigest = inputDigest
        self.digest = digest
        self.want = want
        self.chosen = chosen
        self.instructions = instructions
        self.peakMemory = peakMemory
        self.verdicts = verdicts
    }
}

/// One parameter of a published policy version: its name, type and value.
public struct PolicyParameterBody: Codable, Sendable, Hashable {
    public var name: String
    /// `integer`, `number`, `boolean` or `string`.
    public var type: String
    public var value: JSONValue

    public init(name: String, type: String, value: JSONValue) {
        self.name = name
        self.type = type
        self.value = value
    }
}

/// One published policy version: `GET /v1/policies` (without its source) and `GET /v1/policies/{name}`.
public struct PolicyVersionBody: Codable, Sendable, Hashable {
    public var name: String
    public var version: UInt32
    public var api: Int
    public var sourceHash: String
    /// The declared parameters with their defaults.
    public var declared: [PolicyParameterBody]
    /// The values in force.
    public var params: [PolicyParameterBody]
    public var paramsDigest: String
    /// How many `PolicyParamsSet` changed the values.
    public var parameterSets: UInt32
    public var budgetInstructions: UInt64
    public var budgetMemory: UInt64
    /// `placement`, `shadow`, both (`placement,shadow`) or absent.
    public var role: String?
    /// The source, in `GET /v1/policies/{name}` only.
    public var source: String?

    enum CodingKeys: String, CodingKey {
        case name, version, api, declared, params, role, source
        case sourceHash = "source_hash"
        case paramsDigest = "params_digest"
        case parameterSets = "parameter_sets"
        case budgetInstructions = "budget_instructions"
        case budgetMemory = "budget_memory"
    }

    public init(
        name: String, version: UInt32, api: Int, sourceHash: String, declared: [PolicyParameterBody], params: [PolicyParameterBody],
        paramsDigest: String, parameterSets: UInt32, budgetInstructions: UInt64, budgetMemory: UInt64, role: String? = nil,
        source: String? = nil
    ) {
        self.name = name
        self.version = version
        self.api = api
        self.sourceHash = sourceHash
        self.declared = declared
        self.params = params
        self.paramsDigest = paramsDigest
        self.parameterSets = parameterSets
        self.budgetInstructions = budgetInstructions
        self.budgetMemory = budgetMemory
        self.role = role
        self.source = source
    }
}

/// One change of the policy registry.
public struct PolicyChangeBody: Codable, Sendable, Hashable {
    /// `published`, `activated` or `params_set`.
    public var kind: String
    public var name: String
    public var version: UInt32
    /// For an activation: `placement` or `shadow`.
    public var role: String?
    /// The source hash (published) or the new parameter digest (params_set).
    public var digest: String?
    /// The DA height of the change.
    public var height: UInt64?

    public init(kind: String, name: String, version: UInt32, role: String?, digest: String?, height: UInt64?) {
        self.kind = kind
        self.name = name
        self.version = version
        self.role = role
        self.digest = digest
        self.height = height
    }
}

/// What one shadow version decided next to the placement policy, in this coordinator since it started.
public struct ShadowTallyBody: Codable, Sendable, Hashable {
    /// One disagreement.
    public struct Disagreement: Codable, Sendable, Hashable {
        public var chunk: String
        public var placement: [String]
        public var shadow: [String]
        public var snapshotHeight: UInt64

        enum CodingKeys: String, CodingKey {
            case chunk, placement, shadow
            case snapshotHeight = "snapshot_height"
        }

        public init(chunk: String, placement: [String], shadow: [String], snapshotHeight: UInt64) {
            self.chunk = chunk
            self.placement = placement
            self.shadow = shadow
            self.snapshotHeight = snapshotHeight
        }
    }

    /// The shadow version, `name@version`.
    public var shadow: String
    /// The placement version it was last compared with.
    public var placement: String
    public var agreements: UInt64
    public var disagreements: UInt64
    public var failures: UInt64
    public var recentDisagreements: [Disagreement]
    public var lastFailure: String?

    enum CodingKeys: String, CodingKey {
        case shadow, placement, agreements, disagreements, failures
        case recentDisagreements = "recent_disagreements"
        case lastFailure = "last_failure"
    }

    public init(
        shadow: String, placement: String, agreements: UInt64, disagreements: UInt64, failures: UInt64,
        recentDisagreements: [Disagreement], lastFailure: String?
    ) {
        self.shadow = shadow
        self.placement = placement
        self.agreements = agreements
        self.disagreements = disagreements
        self.failures = failures
        self.recentDisagreements = recentDisagreements
        self.lastFailure = lastFailure
    }
}

/// `GET /v1/policies`: every published version and what is active.
public struct PoliciesResponse: Codable, Sendable, Hashable {
    /// The placement policy, `name@version`.
    public var placement: String?
    /// The shadow policy, `name@version`.
    public var shadow: String?
    public var versions: [PolicyVersionBody]

    public init(placement: String?, shadow: String?, versions: [PolicyVersionBody]) {
        self.placement = placement
        self.shadow = shadow
        self.versions = versions
    }
}

/// `GET /v1/policies/{name}`: one policy's versions with their sources, its changes, and its shadow
/// record while it runs in shadow.
public struct PolicyResponse: Codable, Sendable, Hashable {
    public var name: String
    public var placement: String?
    public var shadow: String?
    public var versions: [PolicyVersionBody]
    public var history: [PolicyChangeBody]
    /// The shadow record of each version of this policy that ran in shadow here.
    public var shadowRecords: [ShadowTallyBody]

    enum CodingKeys: String, CodingKey {
        case name, placement, shadow, versions, history
        case shadowRecords = "shadow_records"
    }

    public init(
        name: String, placement: String?, shadow: String?, versions: [PolicyVersionBody], history: [PolicyChangeBody],
        shadowRecords: [ShadowTallyBody] = []
    ) {
        self.name = name
        self.placement = placement
        self.shadow = shadow
        self.versions = versions
        self.history = history
        self.shadowRecords = shadowRecords
    }
}

/// The body of `POST /v1/policies`: a policy's source, checked as `policy check` does, then published;
/// with `role`, also activated (`placement` or `shadow`). Unknown fields are refused.
public struct PolicyPublishRequest: Codable, Sendable, Hashable {
    public var source: String
    public var role: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case source, role }

    public init(source: String, role: String? = nil) {
        self.source = source
        self.role = role
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        source = try container.decode(String.self, forKey: .source)
        role = try container.decodeIfPresent(String.self, forKey: .role)
    }
}

/// The body of `POST /v1/policies/{name}/activate`: a version (0 with role `shadow` clears the shadow)
/// and a role (`placement` by default). Unknown fields are refused.
public struct PolicyActivateRequest: Codable, Sendable, Hashable {
    public var version: UInt32
    public var role: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case version, role }

    public init(version: UInt32, role: String? = nil) {
        self.version = version
        self.role = role
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let version = try container.decodeIntegerIfPresent(UInt32.self, forKey: .version) else {
            throw DecodingError.keyNotFound(CodingKeys.version, .init(codingPath: [], debugDescription: "version is required"))
        }
        self.version = version
        role = try container.decodeIfPresent(String.self, forKey: .role)
    }
}

/// The body of `POST /v1/policies/{name}/params`: new values, read as the declared types, for `version`
/// (by default the version of that name active for placement, else in shadow, else the newest).
public struct PolicyParamsRequest: Codable, Sendable, Hashable {
    public var version: UInt32?
    public var params: [String: JSONValue]

    enum CodingKeys: String, CodingKey, CaseIterable { case version, params }

    public init(version: UInt32? = nil, params: [String: JSONValue]) {
        self.version = version
        self.params = params
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decodeIntegerIfPresent(UInt32.self, forKey: .version)
        params = try container.decode([String: JSONValue].self, forKey: .params)
    }
}
