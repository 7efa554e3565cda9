import DSDNCore
import DSDNScheduler

/// A policy an experiment runs, with where it came from.
public struct ExperimentPolicy: Sendable {
    /// The arm's label (the policy's `name@version`, made unique by the experiment).
    public var label: String
    /// Where it came from: `pack NAME`, `file PATH` or `history NAME@VERSION`.
    public var origin: String
    /// The compiled policy with its parameter values.
    public var resolved: ResolvedPolicy

    /// Creates one.
    public init(origin: String, resolved: ResolvedPolicy) {
        label = resolved.label
        self.origin = origin
        self.resolved = resolved
    }
}

/// An edit of the history every deciding arm sees (the recorded arm is what happened and has none).
public enum WhatIf: Sendable, Hashable, CustomStringConvertible {
    /// After the events of `height`, a node or a whole zone goes down: `node:ID`, `zone:ID`, or a bare
    /// name that is one or the other.
    case fail(String, height: UInt64)
    /// After the events of `height`, `count` new nodes join (seeded ids, zones and capacities).
    case addNodes(Int, height: UInt64)

    /// The height it applies after.
    public var height: UInt64 {
        switch self {
        case let .fail(_, height), let .addNodes(_, height): height
        }
    }

    /// As written on the command line.
    public var description: String {
        switch self {
        case let .fail(target, height): "fail \(WhatIf.shortened(target))@\(height)"
        case let .addNodes(count, height): "add-nodes \(count)@\(height)"
        }
    }

    /// Reads `TARGET@HEIGHT` (`--fail`) or `COUNT@HEIGHT` (`--add-nodes`).
    public static func parse(fail text: String) throws(ExperimentError) -> WhatIf {
        let (target, height) = try split(text, flag: "--fail", what: "NODE|ZONE")
        let name = target.hasPrefix("node:") || target.hasPrefix("zone:") ? String(target.dropFirst(5)) : target
        guard !name.isEmpty, (try? Validation.identifier(name, field: "name")) != nil else {
            throw ExperimentError(
                .invalidWhatIf, "--fail \(shortened(text)): \(shortened(target).debugDescription) is not a node or zone id")
        }
        return .fail(target, height: height)
    }

    /// See `parse(fail:)`.
    public static func parse(addNodes text: String) throws(ExperimentError) -> WhatIf {
        let (count, height) = try split(text, flag: "--add-nodes", what: "COUNT")
        guard let number = Int(count), (1...100_000).contains(number) else {
            throw ExperimentError(.invalidWhatIf, "--add-nodes \(shortened(text)): the count must be from 1 to 100000")
        }
        return .addNodes(number, height: height)
    }

    private static func split(_ text: String, flag: String, what: String) throws(ExperimentError) -> (String, UInt64) {
        let shown = shortened(text)
        guard let at = text.lastIndex(of: "@") else {
            throw ExperimentError(.invalidWhatIf, "\(flag) \(shown): expected \(what)@HEIGHT with a height of at least 1")
        }
        let digits = text[text.index(after: at)...]
        guard digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), digits.first != "0", let height = UInt64(digits) else {
            throw ExperimentError(.invalidWhatIf, "\(flag) \(shown): expected \(what)@HEIGHT with a height of at least 1")
        }
        return (String(text[..<at]), height)
    }

    /// `text` quoted for a message: cut after 100 characters.
    static func shortened(_ text: String) -> String { text.count > 100 ? String(text.prefix(100)) + "…" : text }
}

/// Why an experiment cannot run. One line each.
public struct ExperimentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// A what-if edit names nothing, or is outside the heights replayed.
        case invalidWhatIf = "invalid_what_if"
        /// `--from`/`--to` outside the history.
        case beyondEnd = "beyond_end"
        /// A counterfactual state refused an event (a defect: recorded events applied once).
        case refused
    }

    /// The code.
    public var code: Code
    /// The message.
    public var message: String

    /// Creates one.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Never: the same inputs fail the same way.
    public var isRetryable: Bool { false }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Replays a recorded history under several deciders at once, each in its own counterfactual state, and
/// measures them side by side (docs/experiments.md). Feed every height from 1 to `to` in order; the
/// arms fork from the recorded state before height `from` and decide every under-replicated chunk after
/// each height from `from` on, against the snapshot of that height, as a coordinator's round does.
///
/// Not `Sendable`: one experiment runs on one task; policies run on an evaluation thread it starts.
public final class Experiment {
    /// How many disagreements are explained.
    public let explainLimit: Int
    /// The most chunks one round decides (the rest wait for the next height), as `serve`'s default.
    public let roundLimit: Int
    /// `serve`'s round limit (`SchedulingOptions.maxChunksPerRound`'s default).
    public static let defaultRoundLimit = 256
    private let policies: [ExperimentPolicy]
    private let whatIfs: [WhatIf]
    private let from: UInt64
    private let to: UInt64
    private let seed: UInt64
    private let source: String
    private let engine: String
    private let sampleHeights: [UInt64]
    private var nextSample = 0
    private var lastHeight: UInt64 = 0
    private var events: UInt64 = 0
    private var nowMillis: UInt64 = 0
    private var recordedPlacements: UInt64 = 0
    private let recorded: PlacementArm
    private var deciding: [PlacementArm] = []
    private var pairs: [PairReport] = []
    private var disagreements: [Disagreement] = []
    /// Nodes added so far at each height (several `--add-nodes` at one height number on).
    private var addedAt: [UInt64: Int] = [:]  // lookup only
    private let started = ContinuousClock.now

    /// An experiment of `policies` over heights `from…to` of a history (`source` names it in the report).
    public init(
        policies: [ExperimentPolicy], whatIfs: [WhatIf], from: UInt64, to: UInt64, seed: UInt64, source: String, engine: String,
        samples: Int = 40, explainLimit: Int = 10, roundLimit: Int = Experiment.defaultRoundLimit
    ) throws(ExperimentError) {
        guard from >= 1 else { throw ExperimentError(.beyondEnd, "--from must be at least 1 (heights start at 1)") }
        guard from <= to else { throw ExperimentError(.beyondEnd, "--from \(from) is after the last height \(to)") }
        for edit in whatIfs where edit.height < from || edit.height > to {
            throw ExperimentError(.invalidWhatIf, "\(edit): height \(edit.height) is outside the heights replayed, \(from)…\(to)")
        }
        var labels: [String] = []
        self.policies = policies.map { policy in
            var policy = policy
            var label = policy.label
            var copy = 2
            while labels.contains(label) || label == "recorded" || label == "random" {
                label = "\(policy.label)#\(copy)"
                copy += 1
            }
            labels.append(label)
            policy.label = label
            return policy
        }
        self.whatIfs = whatIfs
        self.from = from
        self.to = to
        self.seed = seed
        self.source = source
        self.engine = engine
        self.explainLimit = max(0, explainLimit)
        self.roundLimit = max(1, roundLimit)
        let count = UInt64(max(1, min(samples, Int(clamping: to - from + 1))))
        sampleHeights =
            count == 1 ? [to] : Array(Set((0..<count).map { from + (to - from) * $0 / (count - 1) })).sorted()
        recorded = PlacementArm(label: "recorded", decider: .recorded, state: StateMachine())
        for (index, policy) in self.policies.enumerated() {
            for other in self.policies[(index + 1)...] {
                pairs.append(
                    PairReport(a: policy.label, b: other.label, decisionsCompared: 0, disagreements: 0, chunksPlacedDifferently: 0))
            }
        }
    }

    /// Events fed so far (a history whose heights hold none has nothing to compare).
    public var eventsReplayed: UInt64 { events }

    /// The heights whose figures the report samples.
    public var samplingHeights: [UInt64] { sampleHeights }

    /// Applies one height's recorded events (the events of the blobs that applied, in order) and, from
    /// `from` on, runs every arm's round.
    public func feed(height: UInt64, events batch: [Event]) throws(ExperimentError) {
        guard height > lastHeight, height <= to else { return }
        lastHeight = height
        if height >= from && deciding.isEmpty { fork() }
        try applyRecorded(batch, height: height)
        guard height >= from else { return }
        for arm in deciding {
            do {
                try arm.apply(batch)
            } catch {
                throw ExperimentError(.refused, "height \(height): \(arm.label)'s state refused a recorded event: \(error.message)")
            }
        }
        // At one height, nodes join before failures apply (so an added node can be failed).
        for edit in whatIfs where edit.height == height { if case .addNodes = edit { try apply(edit) } }
        for edit in whatIfs where edit.height == height { if case .fail = edit { try apply(edit) } }
        try round(height: height)
        while nextSample < sampleHeights.count, sampleHeights[nextSample] <= height {
            takeSamples(at: height)
            nextSample += 1
        }
    }

    private func fork() {
        deciding = [PlacementArm(label: "random", decider: .random(seed: seed), state: recorded.machine)]
        deciding += policies.map { PlacementArm(label: $0.label, decider: .policy($0.resolved), state: recorded.machine) }
    }

    /// The recorded arm applies everything; from `from` on its placements are counted as its decisions
    /// (consecutive replicas of one chunk are one decision).
    private func applyRecorded(_ batch: [Event], height: UInt64) throws(ExperimentError) {
        var lastChunk: Hash256?
        var isRepair = false
        for event in batch {
            events += 1
            switch event {
            case let .nodeStatsReported(_, stats): nowMillis = max(nowMillis, stats.reportedAtMillis)
            case let .replicaAdded(hash, _, _, addedAt, _) where height >= from:
                nowMillis = max(nowMillis, addedAt)
                recordedPlacements += 1
                let before = recorded.machine.state.chunk(hash)
                try applyOne(event, height: height)
                guard let before, let after = recorded.machine.state.chunk(hash), after.liveReplicaCount > before.liveReplicaCount
                else { continue }
                if lastChunk != hash {
                    recorded.counters.decisions += 1
                    isRepair = before.replicas.contains(where: \.isLost)
                    if isRepair { recorded.counters.repairs += 1 }
                }
                lastChunk = hash
                recorded.counters.replicasPlaced += 1
                recorded.counters.bytesPlaced &+= after.sizeBytes
                if isRepair { recorded.counters.repairBytes &+= after.sizeBytes }
                continue
            case let .replicaAdded(_, _, _, addedAt, _): nowMillis = max(nowMillis, addedAt)
            default: break
            }
            lastChunk = nil
            try applyOne(event, height: height)
        }
    }

    private func applyOne(_ event: Event, height: UInt64) throws(ExperimentError) {
        do {
            try recorded.machine.apply(event: event)
        } catch {
            throw ExperimentError(.refused, "height \(height): the recorded state refused \(event.type): \(error.message)")
        }
    }

    private func apply(_ edit: WhatIf) throws(ExperimentError) {
        guard let state = deciding.first?.machine.state else { return }
        var events: [Event] = []
        switch edit {
        case let .fail(target, height):
            let name = target.hasPrefix("node:") || target.hasPrefix("zone:") ? String(target.dropFirst(5)) : target
            let isNode = !target.hasPrefix("zone:") && state.node(name) != nil
            let zoneNodes = target.hasPrefix("node:") ? [] : state.nodes(inZone: name)
            if isNode && !zoneNodes.isEmpty {
                throw ExperimentError(
                    .invalidWhatIf, "\(edit): \(name) is both a node and a zone at height \(height); write node:\(name) or zone:\(name)")
            }
            let failing = isNode ? [state.node(name)].compactMap { $0 } : zoneNodes
            guard !failing.isEmpty else {
                throw ExperimentError(.invalidWhatIf, "\(edit): no registered node or zone is named \(name) at height \(height)")
            }
            events = failing.filter { $0.status != .down }.map { .nodeStatusChanged(nodeID: $0.id, status: .down) }
        case let .addNodes(count, height):
            let first = addedAt[height, default: 0]
            var random = SeededGenerator(seed: seed ^ (height &* 0x9E37_79B9_7F4A_7C15) ^ 0xADD ^ (UInt64(first) << 32))
            let nodes = state.allNodes()
            let zones = state.zones().map(\.id)
            let offset = zones.isEmpty ? 0 : Int(random.below(UInt64(zones.count)))
            addedAt[height] = first + count
            for number in (first + 1)...(first + count) {
                let id = "whatif-\(height)-\(number)"
                guard state.node(id) == nil else {
                    throw ExperimentError(.invalidWhatIf, "\(edit): node \(id) is already registered")
                }
                let capacity = nodes.isEmpty ? UInt64(1) << 40 : nodes[Int(random.below(UInt64(nodes.count)))].capacityBytes
                let zone = zones.isEmpty ? "whatif" : zones[(offset + number) % zones.count]
                events.append(.nodeRegistered(nodeID: id, zone: zone, addr: "\(id).invalid:7000", capacityBytes: capacity))
            }
        }
        for arm in deciding {
            do {
                try arm.apply(events)
            } catch {
                throw ExperimentError(.invalidWhatIf, "\(edit): \(error.message)")
            }
        }
    }

    /// Every deciding arm decides its under-replicated chunks against this height's snapshot; policy
    /// arms that decided the same chunk are compared, and the first disagreements explained.
    private func round(height: UInt64) throws(ExperimentError) {
        let arms = deciding
        let limit = roundLimit
        let work = arms.map { $0.work(limit: limit) }
        guard work.contains(where: { !$0.isEmpty }) else { return }
        let seed = seed
        let explainLimit = explainLimit
        var pairs = self.pairs
        var explained = disagreements
        let decided: [[ArmDecision]] = PlacementSession.onEvaluationThread {
            var sessions: [PlacementSession?] = []
            var decided: [[ArmDecision]] = []
            for (arm, items) in zip(arms, work) {
                switch arm.decider {
                case .recorded:
                    sessions.append(nil)
                    decided.append([])
                case .random:
                    sessions.append(nil)
                    decided.append(arm.decideRandomly(items, seed: seed, height: height))
                case let .policy(resolved):
                    let (session, decisions) = Self.decide(items, arm: arm, resolved: resolved)
                    sessions.append(session)
                    decided.append(decisions)
                }
            }
            // Compare the policy arms (index 0 is the random one), pair by pair in the order given.
            var pairIndex = 0
            for first in 1..<arms.count {
                for second in (first + 1)..<max(first + 1, arms.count) {
                    defer { pairIndex += 1 }
                    var byChunk: [Hash256: Int] = [:]  // lookup only
                    for (offset, item) in decided[second].enumerated() { byChunk[item.work.request.hash] = offset }
                    for item in decided[first] {
                        guard let offset = byChunk[item.work.request.hash] else { continue }
                        let other = decided[second][offset]
                        // Only the same request is comparable (the arms' states can differ in holders).
                        guard other.work.request == item.work.request else { continue }
                        pairs[pairIndex].decisionsCompared += 1
                        guard item.chosen != other.chosen else { continue }
                        pairs[pairIndex].disagreements += 1
                        guard explained.count < explainLimit, let one = sessions[first], let two = sessions[second] else { continue }
                        explained.append(
                            Self.explain(
                                height: height, a: (arms[first].label, item, one), b: (arms[second].label, other, two)))
                    }
                }
            }
            return decided
        }
        self.pairs = pairs
        disagreements = explained
        for (arm, decisions) in zip(arms, decided) {
            do {
                _ = try arm.commit(decisions, height: height, nowMillis: nowMillis, engine: engine)
            } catch {
                throw ExperimentError(.refused, "height \(height): \(arm.label)'s own placement was refused: \(error.message)")
            }
        }
    }

    /// One arm's round with a policy: the snapshot prepared once, each decision timed.
    static func decide(_ items: [ArmWork], arm: PlacementArm, resolved: ResolvedPolicy) -> (PlacementSession?, [ArmDecision]) {
        guard !items.isEmpty else { return (nil, []) }
        let started = ContinuousClock.now
        let state = arm.machine.state
        let session: PlacementSession
        do {
            session = try PlacementSession(
                policy: resolved.policy, overrides: resolved.overrides,
                inputs: DecisionInputs(nodes: state.allNodes(), zones: state.zones()))
        } catch {
            return (nil, items.map { ArmDecision(work: $0, chosen: nil, failure: error.description) })
        }
        arm.counters.instructions &+= session.prepareInstructions
        arm.counters.peakMemory = max(arm.counters.peakMemory, session.preparePeakMemory)
        arm.prepareSeconds += PlacementArm.seconds(since: started)
        let decisions = items.map { item in
            let started = ContinuousClock.now
            let result = session.decide(item.request, explain: false)
            arm.decisionSeconds.append(PlacementArm.seconds(since: started))
            switch result {
            case let .success(decision): return ArmDecision(work: item, chosen: decision.chosen, decision: decision)
            case let .failure(error): return ArmDecision(work: item, chosen: nil, failure: error.description)
            }
        }
        return (session, decisions)
    }

    /// Both arms' verdicts on the nodes either chose, decided again with explanations (the same
    /// decision: same snapshot, same seed).
    static func explain(
        height: UInt64, a: (label: String, item: ArmDecision, session: PlacementSession),
        b: (label: String, item: ArmDecision, session: PlacementSession)
    ) -> Disagreement {
        let aChose = a.item.chosen ?? []
        let bChose = b.item.chosen ?? []
        var nodes = aChose
        for node in bChose where !nodes.contains(node) { nodes.append(node) }
        func explanation(_ side: (label: String, item: ArmDecision, session: PlacementSession), chose: [String]) -> [NodeExplanation] {
            guard case let .success(decision) = side.session.decide(side.item.work.request, explain: true) else {
                return nodes.map {
                    NodeExplanation(node: $0, verdict: "excluded", rank: nil, score: nil, terms: [], reason: side.item.failure ?? "failed")
                }
            }
            var byNode: [String: NodeVerdict] = [:]  // lookup only
            for verdict in decision.verdicts { byNode[verdict.nodeID] = verdict }
            return nodes.map { node in
                guard let verdict = byNode[node] else {
                    return NodeExplanation(node: node, verdict: "excluded", rank: nil, score: nil, terms: [], reason: "not in this state")
                }
                let terms = verdict.terms.map { NodeExplanation.Term(name: $0.name, value: $0.value) }
                if chose.contains(node) {
                    return NodeExplanation(
                        node: node, verdict: "chosen", rank: verdict.rank, score: verdict.score, terms: terms, reason: nil)
                }
                if verdict.passed {
                    return NodeExplanation(
                        node: node, verdict: "candidate", rank: verdict.rank, score: verdict.score, terms: terms, reason: nil)
                }
                return NodeExplanation(
                    node: node, verdict: "excluded", rank: nil, score: nil, terms: [], reason: verdict.reason ?? "filtered")
            }
        }
        return Disagreement(
            height: height, chunk: a.item.work.request.hash.hex, want: a.item.work.request.want, a: a.label, b: b.label, aChose: aChose,
            bChose: bChose, aExplanation: explanation(a, chose: aChose), bExplanation: explanation(b, chose: bChose))
    }

    private func sample(of arm: PlacementArm, at height: UInt64, recorded: [[String]]) -> ArmSample {
        let state = arm.machine.state
        let holders = arm === self.recorded ? recorded : Self.holders(of: state)
        return ArmSample(
            height: height, fill: FillFigures.of(state.allNodes()), underReplicated: state.underReplicatedCount,
            zoneSpreadViolations: Self.zoneSpreadViolations(state: state, holders: holders),
            differsFromRecorded: zip(holders, recorded).count { $0 != $1 }, unplaceable: arm.counters.unplaceable,
            repairBytes: arm.counters.repairBytes, replicasPlaced: arm.counters.replicasPlaced)
    }

    private func takeSamples(at height: UInt64) {
        let recordedHolders = Self.holders(of: recorded.machine.state)
        for arm in [recorded] + deciding { arm.samples.append(sample(of: arm, at: height, recorded: recordedHolders)) }
    }

    /// Chunks whose live replicas (`holders`, in chunk hash order) span fewer zones than they could: d
    /// distinct zones < min(live replicas, zones with an active node).
    static func zoneSpreadViolations(state: DerivedState, holders: [[String]]) -> Int {
        var zoneOf: [String: String] = [:]  // lookup only
        var activeZones = Set<String>()  // lookup only (its count)
        for node in state.allNodes() {
            zoneOf[node.id] = node.zone ?? ""
            if node.status == .active { activeZones.insert(node.zone ?? "") }
        }
        return holders.count { live in
            guard live.count > 1 else { return false }
            return Set(live.map { zoneOf[$0] ?? "" }).count < min(live.count, activeZones.count)
        }
    }

    /// The report and the timings, after the last height was fed.
    public func finish() throws(ExperimentError) -> (report: ExperimentReport, timings: ExperimentTimings) {
        guard lastHeight >= to else {
            throw ExperimentError(.beyondEnd, "the history ends at height \(lastHeight), before --to \(to)")
        }
        while nextSample < sampleHeights.count {
            takeSamples(at: lastHeight)
            nextSample += 1
        }
        let recordedHolders = Self.holders(of: recorded.machine.state)
        let armHolders = deciding.map { Self.holders(of: $0.machine.state) }
        var reports = [
            report(of: recorded, kind: "recorded", origin: "the history as recorded", holders: recordedHolders, recorded: recordedHolders)
        ]
        for (arm, holders) in zip(deciding, armHolders) {
            switch arm.decider {
            case .recorded: break
            case let .random(seed):
                reports.append(report(of: arm, kind: "random", origin: "seed \(seed)", holders: holders, recorded: recordedHolders))
            case .policy:
                let origin = policies.first { $0.label == arm.label }?.origin ?? ""
                reports.append(report(of: arm, kind: "policy", origin: origin, holders: holders, recorded: recordedHolders))
            }
        }
        let random = reports[1]
        for index in reports.indices where index != 1 {
            reports[index].fillStddevVsRandom = random.fill.fillStddev > 0 ? reports[index].fill.fillStddev / random.fill.fillStddev : nil
            reports[index].maxOverMeanVsRandom =
                random.fill.maxOverMean > 0 ? reports[index].fill.maxOverMean / random.fill.maxOverMean : nil
        }
        var pairIndex = 0
        for first in 1..<max(1, armHolders.count) {
            for second in (first + 1)..<max(first + 1, armHolders.count) {
                pairs[pairIndex].chunksPlacedDifferently = zip(armHolders[first], armHolders[second]).count { $0 != $1 }
                pairIndex += 1
            }
        }
        let report = ExperimentReport(
            engine: engine, seed: seed,
            history: HistoryFigures(source: source, from: from, to: to, events: events, recordedPlacements: recordedPlacements),
            whatIf: whatIfs.map(\.description), arms: reports, pairs: pairs, disagreements: disagreements)
        let timings = ExperimentTimings(
            arms: deciding.map { arm in
                let sorted = arm.decisionSeconds.sorted()
                func percentile(_ p: Double) -> Double {
                    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] * 1000
                }
                let seconds = sorted.reduce(0, +) + arm.prepareSeconds
                return ExperimentTimings.Arm(
                    label: arm.label, decisions: arm.counters.decisions,
                    decisionsPerSecond: seconds > 0 ? Double(arm.counters.decisions) / seconds : 0, p50Ms: percentile(0.5),
                    p99Ms: percentile(0.99), prepareSeconds: arm.prepareSeconds)
            }, totalSeconds: PlacementArm.seconds(since: started))
        return (report, timings)
    }

    /// Every chunk's live holders (sorted), in chunk hash order.
    static func holders(of state: DerivedState) -> [[String]] {
        state.allChunkHashes().map { hash in
            (state.chunk(hash)?.replicas.filter { !$0.isLost }.map(\.nodeID) ?? []).sorted { utf8Precedes($0, $1) }
        }
    }

    private func report(of arm: PlacementArm, kind: String, origin: String, holders: [[String]], recorded: [[String]]) -> ArmReport {
        let state = arm.machine.state
        let nodes = state.allNodes()
        let fill = FillFigures.of(nodes)
        var histogram = [Int](repeating: 0, count: 20)
        for node in nodes where node.status != .down && node.capacityBytes > 0 {
            let utilization = Double(node.storedBytes) / Double(node.capacityBytes)
            histogram[min(19, max(0, Int((utilization * 20).rounded(.down))))] += 1
        }
        let violations = Self.zoneSpreadViolations(state: state, holders: holders)
        var resolved: ResolvedPolicy?
        if case let .policy(policy) = arm.decider { resolved = policy }
        let counters = arm.counters
        return ArmReport(
            kind: kind, label: arm.label, origin: origin, sourceHash: resolved?.policy.sourceHash.hex,
            parametersDigest: resolved?.parametersDigest.hex, fill: fill, chunks: state.chunkCount,
            underReplicated: state.underReplicatedCount, zoneSpreadViolations: violations,
            differsFromRecorded: zip(holders, recorded).count { $0 != $1 }, fillStddevVsRandom: nil, maxOverMeanVsRandom: nil,
            decisions: DecisionFigures(
                decisions: counters.decisions, replicasPlaced: counters.replicasPlaced, bytesPlaced: counters.bytesPlaced,
                unplaceable: counters.unplaceable, failed: counters.failed, repairs: counters.repairs, repairBytes: counters.repairBytes),
            instructions: counters.instructions, peakMemoryBytes: counters.peakMemory, utilizationHistogram: histogram,
            zones: state.zones().map {
                ZoneFigures(
                    zone: $0.id, capacityBytes: $0.capacityBytes, storedBytes: $0.storedBytes,
                    utilization: $0.capacityBytes == 0 ? 0 : Double($0.storedBytes) / Double($0.capacityBytes))
            }, samples: arm.samples, lastFailure: counters.lastFailure)
    }
}
