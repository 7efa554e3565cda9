import DSDNCore
import LuaSandbox

/// Places replicas with a Lua policy: builds the canonical inputs, runs one decision in a fresh sandbox,
/// validates everything the policy returned, breaks ties deterministically and explains the result.
///
/// A decision is a pure function of (policy source, parameters, snapshot, chunk): the seed is derived
/// from those, so any coordinator reproduces it bit for bit.
public enum Scheduler {
    /// Places one chunk. Throws a classified `PolicyError` when the policy fails or misbehaves.
    public static func place(
        _ chunk: ChunkRequest, inputs: DecisionInputs, policy: Policy, overrides: [(String, ParameterValue)] = []
    ) throws(PolicyError) -> PlacementDecision {
        let parameters = try policy.parameters(overriding: overrides)
        return try PolicySandbox.withLargeStack { decide(chunk, inputs: inputs, policy: policy, parameters: parameters) }.get()
    }

    /// Places many chunks against one snapshot, each decision in its own fresh sandbox, all on one
    /// large-stack thread.
    public static func place(
        _ chunks: [ChunkRequest], inputs: DecisionInputs, policy: Policy, overrides: [(String, ParameterValue)] = []
    ) throws(PolicyError) -> [Result<PlacementDecision, PolicyError>] {
        let parameters = try policy.parameters(overriding: overrides)
        return PolicySandbox.withLargeStack {
            chunks.map { decide($0, inputs: inputs, policy: policy, parameters: parameters) }
        }
    }

    static func decide(
        _ chunk: ChunkRequest, inputs: DecisionInputs, policy: Policy, parameters: [(name: String, value: ParameterValue)]
    ) -> Result<PlacementDecision, PolicyError> {
        let inputDigest = sha256(inputs.encode(chunk: chunk, parameters: parameters, seed: nil))
        let seedHash = sha256(policy.sourceHash.bytes + inputDigest.bytes)
        let seed = Int64(bitPattern: seedHash.w0 & 0x7FFF_FFFF_FFFF_FFFF)
        let encoded = inputs.encode(chunk: chunk, parameters: parameters, seed: seed)

        guard let sandbox = try? PolicySandbox() else { return .failure(PolicyError(.memoryBudget, "cannot create a Lua state")) }
        let load = sandbox.load(source: policy.source, chunkName: policy.name, budget: policy.budget)
        guard load.outcome == .ok else { return .failure(PolicyError(load.outcome, "\(policy.label): \(load.message)")) }
        let evaluation = sandbox.decide(encodedInput: encoded, seed: seed, budget: policy.budget)
        guard evaluation.outcome == .ok, let value = evaluation.value else {
            return .failure(PolicyError(evaluation.outcome, "\(policy.label): \(evaluation.message)"))
        }
        do {
            let (verdicts, chosen) = try validate(value, inputs: inputs, want: chunk.want, policy: policy)
            let digest = sha256(policy.sourceHash.bytes + inputDigest.bytes + PolicySandbox.encode(value))
            return .success(PlacementDecision(
                policyName: policy.name, policyVersion: policy.version, policySourceHash: policy.sourceHash,
                inputDigest: inputDigest, seed: seed, chosen: chosen, verdicts: verdicts, want: chunk.want,
                instructions: evaluation.instructions, peakMemory: evaluation.peakMemory, digest: digest))
        } catch {
            return .failure(error)
        }
    }

    /// Checks the driver's result: one verdict per node in order, finite scores and terms, and a chosen
    /// list of distinct candidates no longer than `want`.
    static func validate(_ value: LuaValue, inputs: DecisionInputs, want: Int, policy: Policy) throws(PolicyError) -> ([NodeVerdict], [String]) {
        func invalid(_ message: String) -> PolicyError { PolicyError(.invalidResult, "\(policy.label): \(message)") }
        guard let rawVerdicts = value["verdicts"].arrayValue else { throw invalid("internal: the driver returned no verdicts") }
        guard rawVerdicts.count == inputs.nodeIDs.count else { throw invalid("internal: verdict count mismatch") }
        var verdicts: [NodeVerdict] = []
        verdicts.reserveCapacity(rawVerdicts.count)
        for (raw, id) in zip(rawVerdicts, inputs.nodeIDs) {
            let passed = raw["passed"] == .bool(true)
            var verdict = NodeVerdict(nodeID: id, passed: passed, reason: raw["reason"].stringValue, score: nil, terms: [], rank: nil)
            if passed {
                guard let score = raw["score"].doubleValue, score.isFinite else { throw invalid("score of node \(id) is not a finite number") }
                verdict.score = score == 0 ? 0 : score
                if raw["terms"] != .nil {
                    guard let entries = raw["terms"].mapEntries else {
                        throw invalid("score terms of node \(id) must be a table of name = number, got \(raw["terms"].typeName)")
                    }
                    for entry in entries {
                        guard let name = entry.key.stringValue else { throw invalid("score terms of node \(id) must have string names") }
                        guard let term = entry.value.doubleValue, term.isFinite else {
                            throw invalid("score term \(name) of node \(id) must be a finite number, got \(entry.value.typeName)")
                        }
                        verdict.terms.append((name, term == 0 ? 0 : term))
                    }
                }
            }
            verdicts.append(verdict)
        }
        // Ranks: score descending, then id ascending bytewise (ids are unique, so the order is total).
        let ranked = verdicts.indices.filter { verdicts[$0].passed }.sorted { a, b in
            let (x, y) = (verdicts[a].score ?? 0, verdicts[b].score ?? 0)
            return x != y ? x > y : verdicts[a].nodeID.utf8.lexicographicallyPrecedes(verdicts[b].nodeID.utf8)
        }
        for (rank, index) in ranked.enumerated() { verdicts[index].rank = rank + 1 }

        let chosenValue = value["chosen"]
        guard let rawChosen = chosenValue == .nil ? [] : chosenValue.arrayValue else {
            throw invalid("select must return an array of node ids, got \(chosenValue.typeName == "table" ? "a table that is not a sequence" : chosenValue.typeName)")
        }
        guard rawChosen.count <= want else { throw invalid("select returned \(rawChosen.count) nodes but only \(want) are wanted") }
        var chosen: [String] = []
        var seen = Set<String>()
        let candidates = Set(verdicts.filter(\.passed).map(\.nodeID))
        for entry in rawChosen {
            guard let id = entry.stringValue else { throw invalid("select must return node ids as strings, got \(entry.typeName)") }
            guard inputs.contains(id) else { throw invalid("select returned unknown node id \(id.debugDescription)") }
            guard candidates.contains(id) else { throw invalid("select returned node \(id) which did not pass the filter") }
            guard seen.insert(id).inserted else { throw invalid("select returned node \(id) twice") }
            chosen.append(id)
        }
        return (verdicts, chosen)
    }
}
