import DSDNCore
import LuaSandbox

/// A policy of API level 2 prepared against one snapshot in one warm sandbox: the policy is compiled and
/// its chunk-independent hooks (`filter`, `score`) run on every node once; each decision then only walks
/// the prepared ranking, asking `admit` or `select` about the few candidates it needs.
///
/// Isolation between decisions is the sandbox's: the snapshot's tables are read-only views, and each
/// decision runs the policy's top level again in a fresh environment on a fresh thread, so no global,
/// upvalue, table or random state one decision writes is seen by the next (docs/policies.md §5.2).
///
/// Not thread-safe and not `Sendable`: create and use it on one large-stack thread
/// (`PolicySandbox.withLargeStack`). `Scheduler.place(_:inputs:policy:overrides:explain:)` does that.
public final class WarmPlacement {
    /// The policy.
    public let policy: Policy
    /// The snapshot's inputs.
    public let inputs: DecisionInputs
    /// Instructions and peak memory of preparing the snapshot (0 when it failed before running).
    public private(set) var prepareInstructions: UInt64 = 0, preparePeakMemory: UInt64 = 0
    /// Seconds the preparation spent running the policy's hooks (benchmarks compare it with a bare
    /// interpreter doing the same calls).
    public private(set) var prepareHookSeconds: Double = 0
    private let sandbox: PolicySandbox?
    private let prepared: Result<Prepared, PolicyError>

    /// What `prepare` said about every node, and the digests a decision's identity builds on.
    private struct Prepared {
        var verdicts: [NodeVerdict]
        /// SHA-256 of the snapshot's canonical input (nodes, zones, parameters).
        var snapshotDigest: Hash256
        /// SHA-256 of the exported verdicts: every decision's digest covers them.
        var verdictDigest: Hash256
    }

    /// Bytes the warm state holds now (0 without a state).
    public var liveBytes: UInt64 { sandbox?.liveBytes ?? 0 }

    /// Compiles the policy and prepares `inputs`; a failure is kept and returned by every decision.
    public init(
        policy: Policy, parameters: [(name: String, value: ParameterValue)], inputs: DecisionInputs,
        hashSeed: UInt32 = PolicySandbox.productionHashSeed
    ) {
        self.policy = policy
        self.inputs = inputs
        let snapshot = inputs.encodeSnapshot(parameters: parameters)
        let snapshotDigest = sha256(snapshot)
        let sandbox: PolicySandbox
        do {
            sandbox = try PolicySandbox(hashSeed: hashSeed)
        } catch {
            self.sandbox = nil
            prepared = .failure(PolicyError(.memoryBudget, error.reason))
            return
        }
        self.sandbox = sandbox
        let load = sandbox.load(source: policy.source, chunkName: policy.name, budget: policy.budget, exportDeclaration: false)
        guard load.outcome == .ok else {
            prepared = .failure(
                PolicyError(load.outcome, "\(policy.label): \(load.message)", instructions: load.instructions, peakMemory: load.peakMemory))
            return
        }
        let seed = Scheduler.seed(sourceHash: policy.sourceHash, inputDigest: snapshotDigest)
        let evaluation = sandbox.prepare(encodedSnapshot: snapshot, seed: seed, budget: policy.budget)
        prepareInstructions = evaluation.instructions
        preparePeakMemory = evaluation.peakMemory
        prepareHookSeconds = sandbox.lastRunSeconds
        guard evaluation.outcome == .ok, let value = evaluation.value else {
            prepared = .failure(
                PolicyError(
                    evaluation.outcome, "\(policy.label): \(evaluation.message)", instructions: evaluation.instructions,
                    peakMemory: evaluation.peakMemory))
            return
        }
        do {
            let verdicts = try Self.verdicts(value, inputs: inputs, policy: policy)
            prepared = .success(Prepared(verdicts: verdicts, snapshotDigest: snapshotDigest, verdictDigest: sha256(evaluation.valueBytes)))
        } catch {
            prepared = .failure(error)
        }
    }

    /// The prepared verdicts, checked as API level 1 checks a decision's: finite scores and terms, and
    /// the candidates ranked 1...n.
    private static func verdicts(_ value: LuaValue, inputs: DecisionInputs, policy: Policy) throws(PolicyError) -> [NodeVerdict] {
        try Scheduler.rankedVerdicts(value.arrayValue ?? [], inputs: inputs) { message in
            PolicyError(.invalidResult, "\(policy.label): \(message)")
        }
    }

    /// Places one chunk. With `explain`, every candidate's verdict for this chunk is built too (admit
    /// is asked about all of them, after the choice); without, `verdicts` is empty.
    public func decide(_ chunk: ChunkRequest, explain: Bool) -> Result<PlacementDecision, PolicyError> {
        let prepared: Prepared
        switch self.prepared {
        case let .success(value): prepared = value
        case let .failure(error): return .failure(error)
        }
        guard let sandbox else { return .failure(PolicyError(.memoryBudget, "\(policy.label): no sandbox")) }
        let chunkBytes = DecisionInputs.encodeChunk(chunk)
        let inputDigest = sha256(prepared.snapshotDigest.bytes + chunkBytes)
        let seed = Scheduler.seed(sourceHash: policy.sourceHash, inputDigest: inputDigest)
        let evaluation = sandbox.choose(encodedChunk: chunkBytes, seed: seed, budget: policy.budget, explain: explain)
        func failure(_ outcome: SandboxOutcome, _ message: String) -> PolicyError {
            PolicyError(outcome, "\(policy.label): \(message)", instructions: evaluation.instructions, peakMemory: evaluation.peakMemory)
        }
        guard evaluation.outcome == .ok, let value = evaluation.value else {
            return .failure(failure(evaluation.outcome, evaluation.message))
        }
        // The driver checked every id against the host's candidates; the host's own strings go out.
        var chosen: [String] = []
        for entry in value["chosen"].arrayValue ?? [] {
            guard let id = entry.stringValue, let index = inputs.index(of: id), inputs.nodeIDs[index].utf8.elementsEqual(id.utf8),
                chosen.count < chunk.want
            else { return .failure(failure(.invalidResult, "internal: the driver returned an unknown choice")) }
            chosen.append(inputs.nodeIDs[index])
        }
        let chosenBytes = PolicySandbox.encode(.array(chosen.map(LuaValue.string)))
        let digest = sha256(policy.sourceHash.bytes + inputDigest.bytes + prepared.verdictDigest.bytes + chosenBytes)
        let verdicts = explain ? explained(prepared.verdicts, status: value["status"], holders: Set(chunk.holders)) : []
        return .success(
            PlacementDecision(
                policyName: policy.name, policyVersion: policy.version, policySourceHash: policy.sourceHash, inputDigest: inputDigest,
                seed: seed, chosen: chosen, verdicts: verdicts, want: chunk.want, instructions: evaluation.instructions,
                peakMemory: evaluation.peakMemory, digest: digest))
    }

    /// Every node's verdict for one chunk, as API level 1 explains it: the host's status rule, then
    /// holding the chunk, then the prepared filter, then admit; candidates ranked in prepared order.
    private func explained(_ verdicts: [NodeVerdict], status: LuaValue, holders: Set<String>) -> [NodeVerdict] {
        var admitted = [LuaValue](repeating: .nil, count: verdicts.count)
        switch status {
        case let .array(values):
            for (offset, value) in values.enumerated() where offset < admitted.count { admitted[offset] = value }
        case let .map(entries):
            for entry in entries {
                if let index = entry.key.integerValue, index >= 1, index <= admitted.count { admitted[Int(index) - 1] = entry.value }
            }
        default: break
        }
        var result = verdicts
        var candidates: [(rank: Int, index: Int)] = []
        for index in result.indices {
            let id = inputs.nodeIDs[index]
            if inputs.active[index] && holders.contains(id) {
                result[index] = NodeVerdict(nodeID: id, passed: false, reason: "already holds chunk", score: nil, terms: [], rank: nil)
                continue
            }
            guard result[index].passed else { continue }
            if admitted[index] == .bool(true), let rank = result[index].rank {
                candidates.append((rank, index))
            } else {
                let reason = admitted[index].stringValue.map { PrintableText.oneLine($0) } ?? "rejected by admit"
                result[index] = NodeVerdict(nodeID: id, passed: false, reason: reason, score: nil, terms: [], rank: nil)
            }
        }
        candidates.sort { $0.rank < $1.rank }
        for (position, candidate) in candidates.enumerated() { result[candidate.index].rank = position + 1 }
        return result
    }
}
