import DSDNCore
import LuaSandbox

/// One node as every policy sees it (docs/policies.md §4.1): the one schema of node inputs, whoever
/// builds them (a state's registry, a policy's bundled examples, the probe's cluster).
public struct NodeInput: Hashable, Sendable {
    /// Figures a node reports, in the units policies read.
    public struct Stats: Hashable, Sendable {
        /// Free CPU cores.
        public var cpu: Double
        /// Free RAM in MiB.
        public var ramMB: Double
        /// Free GPUs.
        public var gpu: Double
        /// Latency in milliseconds.
        public var latencyMS: Double
        /// I/O pressure from 0 to 1.
        public var io: Double

        /// Creates stats.
        public init(cpu: Double, ramMB: Double, gpu: Double, latencyMS: Double, io: Double) {
            self.cpu = cpu
            self.ramMB = ramMB
            self.gpu = gpu
            self.latencyMS = latencyMS
            self.io = io
        }
    }

    /// The node id.
    public var id: String
    /// Its zone, `""` without one.
    public var zone: String
    /// Capacity in bytes.
    public var capacity: Int64
    /// Bytes stored (may exceed the capacity).
    public var used: Int64
    /// Free bytes: the capacity minus what is stored, never below 0.
    public var free: Int64
    /// Its status.
    public var status: NodeStatus
    /// What it reported; `nil` when it never did (every figure then reads 0).
    public var stats: Stats?

    /// Creates an input; `free` is the capacity less what is stored, at least 0.
    public init(id: String, zone: String, capacity: Int64, used: Int64, status: NodeStatus, stats: Stats?) {
        self.id = id
        self.zone = zone
        self.capacity = capacity
        self.used = used
        free = max(0, capacity - min(max(0, used), capacity))
        self.status = status
        self.stats = stats
    }

    /// A registered node of a state.
    public init(_ node: NodeInfo) {
        let stats = node.stats.map { stats in
            Stats(
                cpu: Double(stats.cpuFreeMilli) / 1000, ramMB: Double(stats.ramFreeMB), gpu: Double(stats.gpuFreeMilli) / 1000,
                latencyMS: Double(stats.latencyMicros) / 1000, io: Double(stats.ioPressureMilli) / 1000)
        }
        self.init(
            id: node.id, zone: node.zone ?? "", capacity: Int64(clamping: node.capacityBytes), used: Int64(clamping: node.storedBytes),
            status: node.status, stats: stats)
        free = Int64(clamping: node.capacityBytes - min(node.storedBytes, node.capacityBytes))
    }

    /// The node table a policy gets: at API level 1 with the chunk's `holds` and `eligible` (active and
    /// not holding it), at level 2 (`holds` nil) without them.
    func record(holds: Bool? = nil) -> LuaValue {
        let figures = stats ?? Stats(cpu: 0, ramMB: 0, gpu: 0, latencyMS: 0, io: 0)
        var fields: [(String, LuaValue)] = [
            ("id", .string(id)), ("zone", .string(zone)), ("capacity", .integer(capacity)), ("used", .integer(used)),
            ("free", .integer(free)), ("status", .string(status.description)), ("has_stats", .bool(stats != nil)),
            ("cpu", .number(figures.cpu)), ("ram_mb", .number(figures.ramMB)), ("gpu", .number(figures.gpu)),
            ("latency_ms", .number(figures.latencyMS)), ("io", .number(figures.io)),
        ]
        if let holds { fields += [("holds", .bool(holds)), ("eligible", .bool(status == .active && !holds))] }
        return .record(fields)
    }
}

/// One zone as policies see it in `ctx.zones`.
public struct ZoneInput: Hashable, Sendable {
    /// The zone id.
    public var id: String
    /// Its registered nodes.
    public var nodes: Int64
    /// Their capacity, in bytes.
    public var capacity: Int64
    /// What they store, in bytes.
    public var used: Int64
    /// `used / capacity`, at most 1; 0 without capacity.
    public var utilization: Double

    /// A zone of a state.
    public init(_ zone: ZoneInfo) {
        id = zone.id
        nodes = Int64(zone.nodeIDs.count)
        capacity = Int64(clamping: zone.capacityBytes)
        used = Int64(clamping: zone.storedBytes)
        utilization = zone.utilization
    }

    /// The zones of `nodes` (those with a zone), summed as a state sums them and sorted by id.
    public static func zones(of nodes: [NodeInput]) -> [ZoneInput] {
        var byID: [String: ZoneInput] = [:]  // lookup only; read out sorted below
        for node in nodes where !node.zone.isEmpty {
            var zone = byID[node.zone] ?? ZoneInput(id: node.zone, nodes: 0, capacity: 0, used: 0, utilization: 0)
            zone.nodes += 1
            zone.capacity = saturating(zone.capacity, node.capacity)
            zone.used = saturating(zone.used, node.used)
            zone.utilization = zone.capacity == 0 ? 0 : min(1, Double(zone.used) / Double(zone.capacity))
            byID[node.zone] = zone
        }
        return byID.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
    }

    private init(id: String, nodes: Int64, capacity: Int64, used: Int64, utilization: Double) {
        self.id = id
        self.nodes = nodes
        self.capacity = capacity
        self.used = used
        self.utilization = utilization
    }

    private static func saturating(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    /// The table a policy gets.
    var record: LuaValue {
        .record([
            ("id", .string(id)), ("nodes", .integer(nodes)), ("capacity", .integer(capacity)), ("used", .integer(used)),
            ("utilization", .number(utilization)),
        ])
    }
}
