import DSDNCore
import LuaSandbox

/// Places replicas with a Lua policy: builds the canonical inputs, runs one decision in a fresh sandbox,
/// validates everything the policy returned, breaks ties deterministically and explains the result.
///
/// A decision is a pure function of (policy source, parameters, snapshot, chunk): the seed is derived
/// from those, so any coordinator reproduces it bit for bit.
public enum Scheduler {
    /// The Lua release decisions run on, such as `Lua 5.4.4` (part of the engine placements record).
    public static var luaRelease: String { PolicySandbox.luaRelease }

    /// Places one chunk. Throws a classified `PolicyError` when the policy fails or misbehaves. At API
    /// level 2 the verdicts of every node are built only with `explain` (level 1 always builds them).
    public static func place(
        _ chunk: ChunkRequest, inputs: DecisionInputs, policy: Policy, overrides: [(String, ParameterValue)] = [],
        explain: Bool = true
    ) throws(PolicyError) -> PlacementDecision {
        let parameters = try policy.parameters(overriding: overrides)
        return try PolicySandbox.withLargeStack {
            decide(chunk, inputs: inputs, policy: policy, parameters: parameters, explain: explain)
        }.get()
    }

    /// Places many chunks against one snapshot on one large-stack thread. API level 1: each decision in
    /// its own fresh sandbox. API level 2: one warm sandbox prepared once for all of them; `explain`
    /// builds every node's verdict (level 1 always does).
    /// `shouldStop` is asked before each decision: when it says yes, the decisions made so far are
    /// returned (fewer than `chunks`).
    public static func place(
        _ chunks: [ChunkRequest], inputs: DecisionInputs, policy: Policy, overrides: [(String, ParameterValue)] = [],
        explain: Bool = true, shouldStop: () -> Bool = { false }
    ) throws(PolicyError) -> [Result<PlacementDecision, PolicyError>] {
        let parameters = try policy.parameters(overriding: overrides)
        return PolicySandbox.withLargeStack {
            var results: [Result<PlacementDecision, PolicyError>] = []
            let warm = policy.apiLevel >= 2 ? WarmPlacement(policy: policy, parameters: parameters, inputs: inputs) : nil
            for chunk in chunks {
                if shouldStop() { break }
                if let warm {
                    results.append(warm.decide(chunk, explain: explain))
                } else {
                    results.append(decide(chunk, inputs: inputs, policy: policy, parameters: parameters))
                }
            }
            return results
        }
    }

    /// The seed of a decision (or of a level-2 snapshot's preparation): from the policy's source hash and
    /// the input digest, so any coordinator derives the same.
    static func seed(sourceHash: Hash256, inputDigest: Hash256) -> Int64 {
        Int64(bitPattern: sha256(sourceHash.bytes + inputDigest.bytes).w0 & 0x7FFF_FFFF_FFFF_FFFF)
    }

    /// `hashSeed` is the production one except when `policy check` looks for layout-dependent outcomes.
    static func decide(
        _ chunk: ChunkRequest, inputs: DecisionInputs, policy: Policy, parameters: [(name: String, value: ParameterValue)],
        hashSeed: UInt32 = PolicySandbox.productionHashSeed, explain: Bool = true
    ) -> Result<PlacementDecision, PolicyError> {
        if policy.apiLevel >= 2 {
            return WarmPlacement(policy: policy, parameters: parameters, inputs: inputs, hashSeed: hashSeed).decide(chunk, explain: explain)
        }
        let inputDigest = sha256(inputs.encode(chunk: chunk, parameters: parameters, seed: nil))
        let seed = seed(sourceHash: policy.sourceHash, inputDigest: inputDigest)
        let encoded = inputs.encode(chunk: chunk, parameters: parameters, seed: seed)

        let sandbox: PolicySandbox
        do {
            sandbox = try PolicySandbox(hashSeed: hashSeed)
        } catch {
            return .failure(PolicyError(.memoryBudget, error.reason))
        }
        let load = sandbox.load(source: policy.source, chunkName: policy.name, budget: policy.budget, exportDeclaration: false)
        guard load.outcome == .ok else {
            return .failure(
                PolicyError(load.outcome, "\(policy.label): \(load.message)", instructions: load.instructions, peakMemory: load.peakMemory))
        }
        let evaluation = sandbox.decide(encodedInput: encoded, seed: seed, budget: policy.budget)
        guard evaluation.outcome == .ok, let value = evaluation.value else {
            return .failure(
                PolicyError(
                    evaluation.outcome, "\(policy.label): \(evaluation.message)", instructions: evaluation.instructions,
                    peakMemory: evaluation.peakMemory))
        }
        do {
            let (verdicts, chosen) = try validate(value, inputs: inputs, want: chunk.want, policy: policy)
            let digest = sha256(policy.sourceHash.bytes + inputDigest.bytes + evaluation.valueBytes)
            return .success(
                PlacementDecision(
                    policyName: policy.name, policyVersion: policy.version, policySourceHash: policy.sourceHash,
                    inputDigest: inputDigest, seed: seed, chosen: chosen, verdicts: verdicts, want: chunk.want,
                    instructions: evaluation.instructions, peakMemory: evaluation.peakMemory, digest: digest))
        } catch {
            var located = error
            located.instructions = evaluation.instructions
            located.peakMemory = evaluation.peakMemory
            return .failure(located)
        }
    }

    /// Checks the driver's result: one verdict per node in order, finite scores and terms, and a chosen
    /// list of distinct candidates no longer than `want`.
    static func validate(_ value: LuaValue, inputs: DecisionInputs, want: Int, policy: Policy) throws(PolicyError) -> (
        [NodeVerdict], [String]
    ) {
        func invalid(_ message: String) -> PolicyError { PolicyError(.invalidResult, "\(policy.label): \(message)") }
        guard let rawVerdicts = value["verdicts"].arrayValue else { throw invalid("internal: the driver returned no verdicts") }
        let verdicts = try rankedVerdicts(rawVerdicts, inputs: inputs, invalid: invalid)

        let chosenValue = value["chosen"]
        guard let rawChosen = chosenValue == .nil ? [] : chosenValue.arrayValue else {
            throw invalid(
                "select must return an array of node ids, got \(chosenValue.typeName == "table" ? "a table that is not a sequence" : chosenValue.typeName)"
            )
        }
        guard rawChosen.count <= want else { throw invalid("select returned \(rawChosen.count) nodes but only \(want) are wanted") }
        var chosen: [String] = []
        var seen = Set<Int>()
        for entry in rawChosen {
            guard let id = entry.stringValue else { throw invalid("select must return node ids as strings, got \(entry.typeName)") }
            // Ids are matched byte for byte (Swift's String equality would accept a canonically equivalent
            // spelling), and the host's own string is what goes out.
            guard let index = inputs.index(of: id), inputs.nodeIDs[index].utf8.elementsEqual(id.utf8) else {
                throw invalid("select returned unknown node id \(id.debugDescription)")
            }
            guard verdicts[index].passed else { throw invalid("select returned node \(id) which did not pass the filter") }
            guard seen.insert(index).inserted else { throw invalid("select returned node \(id) twice") }
            chosen.append(inputs.nodeIDs[index])
        }
        return (verdicts, chosen)
    }

    /// One verdict per node, in node order, checked (see ``verdict(_:id:invalid:)``), with the
    /// candidates' ranks exactly 1...n as the driver ranked them (score descending, then id bytewise).
    static func rankedVerdicts(_ raw: [LuaValue], inputs: DecisionInputs, invalid: (String) -> PolicyError) throws(PolicyError)
        -> [NodeVerdict]
    {
        guard raw.count == inputs.nodeIDs.count else { throw invalid("internal: verdict count mismatch") }
        var verdicts: [NodeVerdict] = []
        verdicts.reserveCapacity(raw.count)
        var ranks: [Int] = []
        for (entry, id) in zip(raw, inputs.nodeIDs) {
            var verdict = try verdict(entry, id: id, invalid: invalid)
            if verdict.passed {
                guard let rank = verdict.rank else { throw invalid("internal: candidate \(id) has no rank") }
                ranks.append(rank)
            } else {
                verdict.rank = nil
            }
            verdicts.append(verdict)
        }
        guard ranks.sorted().elementsEqual((0..<ranks.count).map { $0 + 1 }) else {
            throw invalid("internal: candidate ranks are not 1...\(ranks.count)")
        }
        return verdicts
    }

    /// One node's verdict as the driver exported it: passed, reason, and for a candidate its finite
    /// score, terms named by identifiers with finite values, and rank.
    static func verdict(_ raw: LuaValue, id: String, invalid: (String) -> PolicyError) throws(PolicyError) -> NodeVerdict {
        // One pass over the verdict's fields (the driver writes them; the policy wrote score/terms).
        var verdict = NodeVerdict(nodeID: id, passed: false, reason: nil, score: nil, terms: [], rank: nil)
        var rawScore = LuaValue.nil
        var rawTerms = LuaValue.nil
        for entry in raw.mapEntries ?? [] {
            switch entry.key.stringValue {
            case "passed": verdict.passed = entry.value == .bool(true)
            case "reason": verdict.reason = entry.value.stringValue.map { PrintableText.oneLine($0) }
            case "score": rawScore = entry.value
            case "terms": rawTerms = entry.value
            case "rank": verdict.rank = entry.value.integerValue.map(Int.init)
            default: break
            }
        }
        guard verdict.passed else { return verdict }
        guard let score = rawScore.doubleValue, score.isFinite else { throw invalid("score of node \(id) is not a finite number") }
        verdict.score = score == 0 ? 0 : score
        if rawTerms != .nil {
            guard let entries = rawTerms.mapEntries else {
                throw invalid("score terms of node \(id) must be a table of name = number, got \(rawTerms.typeName)")
            }
            for entry in entries {
                guard let name = entry.key.stringValue, (try? Validation.identifier(name, field: "term")) != nil else {
                    throw invalid("score terms of node \(id) must be named by identifiers (printable ASCII), got \(describe(entry.key))")
                }
                guard let term = entry.value.doubleValue, term.isFinite else {
                    let got = entry.value.doubleValue.map { $0.isNaN ? "nan" : ($0 > 0 ? "inf" : "-inf") } ?? entry.value.typeName
                    throw invalid("score term \(name) of node \(id) must be a finite number, got \(got)")
                }
                verdict.terms.append((name, term == 0 ? 0 : term))
            }
        }
        return verdict
    }
}
