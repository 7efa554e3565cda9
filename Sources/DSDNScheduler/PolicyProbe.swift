import DSDNCore
import LuaSandbox

/// What one probe of a policy found: how loading ended and how one decision on a fixed small cluster
/// ended, with their costs. Every field is a function of the policy source alone.
public struct ProbeReport: Hashable, Sendable {
    /// How compiling and running the top level ended (declaration validation included).
    public var load: SandboxOutcome
    /// Instructions and peak memory of the top level.
    public var loadInstructions: UInt64, loadPeakMemory: UInt64
    /// How the decision ended (host validation included); `nil` when loading failed.
    public var decide: SandboxOutcome?
    /// Instructions and peak memory of the decision.
    public var decideInstructions: UInt64, decidePeakMemory: UInt64
    /// The nodes the decision chose.
    public var chosen: [String]
    /// The message of the failure, if any.
    public var message: String

    /// The final outcome: the decision's, or the load's when loading failed.
    public var outcome: SandboxOutcome { decide ?? load }

    /// Creates a report.
    public init(
        load: SandboxOutcome, loadInstructions: UInt64, loadPeakMemory: UInt64, decide: SandboxOutcome?,
        decideInstructions: UInt64, decidePeakMemory: UInt64, chosen: [String], message: String
    ) {
        self.load = load
        self.loadInstructions = loadInstructions
        self.loadPeakMemory = loadPeakMemory
        self.decide = decide
        self.decideInstructions = decideInstructions
        self.decidePeakMemory = decidePeakMemory
        self.chosen = chosen
        self.message = message
    }
}

/// Runs a policy once on a fixed four-node cluster: the quickest way to see how a policy (or a hostile
/// script) behaves, what it costs, and that the host survives it.
public enum PolicyProbe {
    /// The probe cluster: nodes a, b, c, d in zones z1, z2, z1, z2, all active with stats.
    public static let nodes: [NodeInput] = ["a", "b", "c", "d"].enumerated().map { offset, id in
        NodeInput(
            id: id, zone: offset % 2 == 0 ? "z1" : "z2", capacity: 1 << 40, used: Int64(offset) << 30, status: .active,
            stats: NodeInput.Stats(
                cpu: Double(offset + 1) / 2, ramMB: Double(4_000 * (offset + 1)), gpu: Double(offset % 2),
                latencyMS: Double(5 + offset), io: Double(offset) / 10))
    }

    /// The probe chunk: hash of zeros, 1 KiB, three replicas, none placed.
    public static let chunk = ChunkRequest(hash: .zero, sizeBytes: 1024, replicationFactor: 3)

    /// Loads `source` with `loadBudget` and, if that works, makes one decision with `decideBudget`
    /// (the policy's own budget when `nil`). Runs on a large-stack thread; never throws.
    public static func run(
        source: String, fileName: String, loadBudget: SandboxBudget = .default, decideBudget: SandboxBudget? = nil
    ) -> ProbeReport {
        PolicySandbox.withLargeStack {
            var report = ProbeReport(
                load: .ok, loadInstructions: 0, loadPeakMemory: 0, decide: nil, decideInstructions: 0, decidePeakMemory: 0,
                chosen: [], message: "")
            var policy: Policy
            do throws(PolicyError) {
                policy = try Policy.load(source: source, fileName: fileName, budget: loadBudget)
            } catch {
                report.load = error.outcome
                report.loadInstructions = error.instructions
                report.loadPeakMemory = error.peakMemory
                report.message = error.message
                return report
            }
            report.loadInstructions = policy.loadInstructions
            report.loadPeakMemory = policy.loadPeakMemory
            let inputs = DecisionInputs(nodes: nodes, zones: ZoneInput.zones(of: nodes))
            if let decideBudget { policy.budget = decideBudget }
            switch Scheduler.decide(chunk, inputs: inputs, policy: policy, parameters: policy.parameters) {
            case let .success(decision):
                report.decide = .ok
                report.decideInstructions = decision.instructions
                report.decidePeakMemory = decision.peakMemory
                report.chosen = decision.chosen
            case let .failure(error):
                report.decide = error.outcome
                report.decideInstructions = error.instructions
                report.decidePeakMemory = error.peakMemory
                report.message = error.message
            }
            return report
        }
    }
}
