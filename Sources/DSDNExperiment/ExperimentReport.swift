import DSDNCore
import FoundationEssentials

/// The fill of a state's nodes: every registered node that is not down and has capacity
/// (docs/experiments.md §4 defines each figure).
public struct FillFigures: Codable, Hashable, Sendable {
    /// Nodes counted.
    public var nodes: Int
    /// Mean of the nodes' utilization (stored bytes / capacity).
    public var meanUtilization: Double
    /// The largest utilization.
    public var maxUtilization: Double
    /// `maxUtilization / meanUtilization`; 0 when the mean is 0.
    public var maxOverMean: Double
    /// Population standard deviation of the utilizations.
    public var fillStddev: Double
    /// Bytes of live replicas on the nodes counted.
    public var storedBytes: UInt64

    /// The figures of `nodes`.
    public static func of(_ nodes: [NodeInfo]) -> FillFigures {
        let utilizations = nodes.filter { $0.status != .down && $0.capacityBytes > 0 }.map { node in
            (Double(node.storedBytes) / Double(node.capacityBytes), node.storedBytes)
        }
        let count = utilizations.count
        guard count > 0 else {
            return FillFigures(nodes: 0, meanUtilization: 0, maxUtilization: 0, maxOverMean: 0, fillStddev: 0, storedBytes: 0)
        }
        var sum = 0.0
        var maximum = 0.0
        var stored: UInt64 = 0
        for (utilization, bytes) in utilizations {
            sum += utilization
            maximum = max(maximum, utilization)
            stored &+= bytes
        }
        let mean = sum / Double(count)
        var squares = 0.0
        for (utilization, _) in utilizations { squares += (utilization - mean) * (utilization - mean) }
        return FillFigures(
            nodes: count, meanUtilization: mean, maxUtilization: maximum, maxOverMean: mean > 0 ? maximum / mean : 0,
            fillStddev: (squares / Double(count)).squareRoot(), storedBytes: stored)
    }
}

/// An arm's figures at one height along the history.
public struct ArmSample: Codable, Hashable, Sendable {
    /// The height (after its events and its round's decisions).
    public var height: UInt64
    /// The fill then.
    public var fill: FillFigures
    /// Chunks under-replicated then.
    public var underReplicated: Int
    /// Zone-spread violations then.
    public var zoneSpreadViolations: Int
    /// Chunks whose live holders differ from the recorded history's then (the recorded placements of a
    /// round land one height later, so the latest round's chunks can count here).
    public var differsFromRecorded: Int
    /// Decisions that placed fewer replicas than wanted, so far.
    public var unplaceable: UInt64
    /// Bytes placed by repairs so far.
    public var repairBytes: UInt64
    /// Replicas placed so far.
    public var replicasPlaced: UInt64
}

/// One zone at the end.
public struct ZoneFigures: Codable, Hashable, Sendable {
    /// The zone id.
    public var zone: String
    /// Its registered nodes' capacity, in bytes.
    public var capacityBytes: UInt64
    /// Bytes of live replicas on them.
    public var storedBytes: UInt64
    /// `storedBytes / capacityBytes`, 0 without capacity.
    public var utilization: Double
}

/// What an arm decided over the history.
public struct DecisionFigures: Codable, Hashable, Sendable {
    /// Decisions made (one per chunk per round).
    public var decisions: UInt64
    /// Replicas placed.
    public var replicasPlaced: UInt64
    /// Bytes of the replicas placed.
    public var bytesPlaced: UInt64
    /// Decisions that placed fewer replicas than wanted.
    public var unplaceable: UInt64
    /// Decisions that failed (an error, a budget, an invalid result).
    public var failed: UInt64
    /// Decisions that repaired a chunk with a lost replica.
    public var repairs: UInt64
    /// Bytes those repairs placed (what they move over the network).
    public var repairBytes: UInt64

    /// Creates figures.
    public init(
        decisions: UInt64, replicasPlaced: UInt64, bytesPlaced: UInt64, unplaceable: UInt64, failed: UInt64, repairs: UInt64,
        repairBytes: UInt64
    ) {
        self.decisions = decisions
        self.replicasPlaced = replicasPlaced
        self.bytesPlaced = bytesPlaced
        self.unplaceable = unplaceable
        self.failed = failed
        self.repairs = repairs
        self.repairBytes = repairBytes
    }
}

/// One arm of an experiment: the recorded history, the random reference or a policy.
public struct ArmReport: Codable, Hashable, Sendable {
    /// `recorded`, `random` or `policy`.
    public var kind: String
    /// `recorded`, `random`, or the policy's `name@version` (with `#2`… when two arms share it).
    public var label: String
    /// Where the policy came from (a pack name, a file, the history's registry); the seed of `random`.
    public var origin: String
    /// The policy's source hash, hex; `nil` for the recorded and random arms.
    public var sourceHash: String?
    /// The parameter digest of the values it decided with, hex.
    public var parametersDigest: String?
    /// The fill at the end.
    public var fill: FillFigures
    /// Chunks declared at the end.
    public var chunks: Int
    /// Chunks with fewer live replicas than their replication factor at the end.
    public var underReplicated: Int
    /// Chunks whose live replicas span fewer zones than they could.
    public var zoneSpreadViolations: Int
    /// Chunks whose live replicas are on other nodes than in the recorded history at the end.
    public var differsFromRecorded: Int
    /// Fill standard deviation and max/mean utilization divided by the random arm's (`nil` when the
    /// random arm's is 0).
    public var fillStddevVsRandom: Double?
    /// See `fillStddevVsRandom`.
    public var maxOverMeanVsRandom: Double?
    /// What it decided (the recorded arm: the recorded placements).
    public var decisions: DecisionFigures
    /// Instructions every decision and preparation used, in total.
    public var instructions: UInt64
    /// The largest peak memory of a decision or a preparation, in bytes.
    public var peakMemoryBytes: UInt64
    /// Nodes per utilization bucket at the end: 20 buckets of 5 % (the last holds 95 % and above).
    public var utilizationHistogram: [Int]
    /// The zones at the end, sorted by id.
    public var zones: [ZoneFigures]
    /// The samples along the history.
    public var samples: [ArmSample]
    /// The last failure's message, if any decision failed.
    public var lastFailure: String?
}

/// Two policy arms compared.
public struct PairReport: Codable, Hashable, Sendable {
    /// The arms' labels.
    public var a: String
    /// See `a`.
    public var b: String
    /// Decisions of the same chunk in the same round by both.
    public var decisionsCompared: UInt64
    /// Of those, the ones that chose other nodes (or an other order).
    public var disagreements: UInt64
    /// Chunks whose live replicas are on other nodes in the two arms at the end.
    public var chunksPlacedDifferently: Int
}

/// Why an arm chose what it chose, for the nodes either side chose.
public struct NodeExplanation: Codable, Hashable, Sendable {
    /// The node.
    public var node: String
    /// `chosen`, `candidate` (passed, not chosen) or `excluded`.
    public var verdict: String
    /// Its rank among the candidates.
    public var rank: Int?
    /// Its score.
    public var score: Double?
    /// One term of a score, as the policy explained it.
    public struct Term: Codable, Hashable, Sendable {
        /// Its name.
        public var name: String
        /// Its value.
        public var value: Double
    }

    /// The score's terms, sorted by name.
    public var terms: [Term]
    /// Why it was excluded.
    public var reason: String?
}

/// One disagreement with both explanations.
public struct Disagreement: Codable, Hashable, Sendable {
    /// The round's height.
    public var height: UInt64
    /// The chunk, hex.
    public var chunk: String
    /// Replicas wanted.
    public var want: Int
    /// The two arms.
    public var a: String
    /// See `a`.
    public var b: String
    /// What each chose.
    public var aChose: [String]
    /// See `aChose`.
    public var bChose: [String]
    /// Each arm's verdicts on the nodes either chose.
    public var aExplanation: [NodeExplanation]
    /// See `aExplanation`.
    public var bExplanation: [NodeExplanation]
}

/// The history an experiment replayed.
public struct HistoryFigures: Codable, Hashable, Sendable {
    /// The history as given (a DA address or a file).
    public var source: String
    /// The first height the arms decided at.
    public var from: UInt64
    /// The last height replayed.
    public var to: UInt64
    /// Events replayed up to `to`.
    public var events: UInt64
    /// Recorded placements (`ReplicaAdded`) from `from` on.
    public var recordedPlacements: UInt64
}

/// An experiment's outcome: a pure function of the history, the policies, the what-ifs and the seed
/// (docs/experiments.md §5 documents the schema). Timings are apart, in `ExperimentTimings`.
public struct ExperimentReport: Codable, Hashable, Sendable {
    /// The schema's name and version.
    public var schema = "dsdn-experiment/1"
    /// The engine decisions ran on.
    public var engine: String
    /// The seed of the random arm and of added nodes.
    public var seed: UInt64
    /// The history.
    public var history: HistoryFigures
    /// The what-if edits, as given.
    public var whatIf: [String]
    /// The arms: recorded, random, then each policy in the order given.
    public var arms: [ArmReport]
    /// Every pair of policy arms.
    public var pairs: [PairReport]
    /// The first disagreements, with explanations.
    public var disagreements: [Disagreement]

    /// The report as canonical JSON: keys sorted, snake_case, one trailing newline.
    public func json() -> String { Self.encode(self) }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Every figure is finite by construction; an encoding failure would be a defect, shown as such.
        guard let data = try? encoder.encode(value) else { return "{\"error\":\"report could not be encoded\"}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// The figures allowed to vary from run to run: how fast each arm decided.
public struct ExperimentTimings: Codable, Hashable, Sendable {
    /// One arm's speed.
    public struct Arm: Codable, Hashable, Sendable {
        /// The arm's label.
        public var label: String
        /// Decisions made.
        public var decisions: UInt64
        /// Decisions per second, preparation included.
        public var decisionsPerSecond: Double
        /// Median and 99th percentile of one decision, in milliseconds (preparation apart).
        public var p50Ms: Double
        /// See `p50Ms`.
        public var p99Ms: Double
        /// Seconds spent preparing snapshots (API level 2).
        public var prepareSeconds: Double
    }

    /// Each deciding arm.
    public var arms: [Arm]
    /// Seconds the whole experiment took.
    public var totalSeconds: Double

    /// As JSON (keys sorted).
    public func json() -> String { ExperimentReport.encode(self) }
}
