import DSDNCore
import DSDNScheduler

/// What decides an arm's placements.
public enum ArmDecider: Sendable {
    /// Nothing: the history's own placements, as recorded.
    case recorded
    /// A uniformly random choice among the active nodes with room, seeded: the reference every policy
    /// is measured against.
    case random(seed: UInt64)
    /// A policy with its parameter values.
    case policy(ResolvedPolicy)
}

/// One chunk an arm decides in a round.
struct ArmWork {
    var request: ChunkRequest
    var freeIndexes: [UInt8]
    /// The chunk had a replica lost (its node went down or left): placing it is a repair.
    var isRepair: Bool
}

/// One decision of a round.
struct ArmDecision {
    var work: ArmWork
    /// The nodes chosen, best first; `nil` when the decision failed.
    var chosen: [String]?
    var failure: String?
    var decision: PlacementDecision?
}

/// Running totals of an arm's decisions.
struct ArmCounters {
    var decisions: UInt64 = 0
    var replicasPlaced: UInt64 = 0
    var bytesPlaced: UInt64 = 0
    var unplaceable: UInt64 = 0
    var failed: UInt64 = 0
    var repairs: UInt64 = 0
    var repairBytes: UInt64 = 0
    var instructions: UInt64 = 0
    var peakMemory: UInt64 = 0
    var lastFailure: String?
}

/// A counterfactual state and what decides its placements: the recorded history's node, stats, chunk
/// and policy events apply as recorded, and every placement and repair is the decider's own.
final class PlacementArm {
    let label: String
    let decider: ArmDecider
    var machine: StateMachine
    var counters = ArmCounters()
    /// Chunks a decision left short (or failed on), retried once the nodes change or space is freed.
    var blocked = Set<Hash256>()  // lookup only
    /// Seconds of every decision, and of every snapshot's preparation.
    var decisionSeconds: [Double] = []
    var prepareSeconds: Double = 0
    /// Samples along the history.
    var samples: [ArmSample] = []

    init(label: String, decider: ArmDecider, state: StateMachine) {
        self.label = label
        self.decider = decider
        machine = state
    }

    /// Applies recorded events, without the recorded placements (`ReplicaAdded`, `ReplicaRemoved`)
    /// unless `withReplicas`. A change of the nodes or a removed chunk lets blocked chunks be retried.
    func apply(_ events: [Event], withReplicas: Bool = false) throws(ApplyError) {
        for event in events {
            switch event.type {
            case .replicaAdded, .replicaRemoved: if !withReplicas { continue }
            case .nodeRegistered, .nodeUnregistered, .nodeStatusChanged, .zoneAssigned, .zoneUnassigned, .chunkRemoved:
                blocked.removeAll(keepingCapacity: true)
            case .chunkDeclared, .nodeStatsReported, .policyPublished, .policyActivated, .policyParamsSet: break
            }
            try machine.apply(event: event)
        }
    }

    /// The chunks this round decides: the first `limit` under-replicated chunks not blocked, in hash
    /// order (a coordinator's round takes at most `maxChunksPerRound` the same way).
    func work(limit: Int) -> [ArmWork] {
        let state = machine.state
        var work: [ArmWork] = []
        for hash in state.underReplicatedChunks() where work.count < limit && !blocked.contains(hash) {
            guard let chunk = state.chunk(hash) else { continue }
            let live = chunk.replicas.filter { !$0.isLost }
            let request = ChunkRequest(
                hash: hash, sizeBytes: chunk.sizeBytes, replicationFactor: chunk.replicationFactor, holders: live.map(\.nodeID))
            guard request.want > 0 else { continue }
            let used = Set(live.map(\.index))
            work.append(
                ArmWork(
                    request: request, freeIndexes: (0..<UInt8(clamping: chunk.replicationFactor)).filter { !used.contains($0) },
                    isRepair: chunk.replicas.contains { $0.isLost }))
        }
        return work
    }

    /// Decides `work` with a random choice (no sandbox needed): each replica uniformly among the active
    /// nodes that do not hold the chunk, are not chosen yet and have its size free. Rejection sampling
    /// over the active nodes first (the same distribution), the eligible list when that keeps failing.
    func decideRandomly(_ work: [ArmWork], seed: UInt64, height: UInt64) -> [ArmDecision] {
        let active = machine.state.allNodes().filter { $0.status == .active }
        let ids = active.map(\.id)
        let free = active.map { $0.capacityBytes - min($0.storedBytes, $0.capacityBytes) }
        return work.map { item in
            let started = ContinuousClock.now
            var random = SeededGenerator(seed: seed ^ item.request.hash.w0 ^ (height &* 0x9E37_79B9_7F4A_7C15))
            let holders = Set(item.request.holders)  // lookup only
            var chosen: [String] = []
            var taken = Set<Int>()  // lookup only
            func eligible(_ index: Int) -> Bool {
                !taken.contains(index) && free[index] >= item.request.sizeBytes && !holders.contains(ids[index])
            }
            picking: while chosen.count < item.request.want, !ids.isEmpty {
                for _ in 0..<32 {
                    let index = Int(random.below(UInt64(ids.count)))
                    if eligible(index) {
                        taken.insert(index)
                        chosen.append(ids[index])
                        continue picking
                    }
                }
                let candidates = ids.indices.filter(eligible)
                guard !candidates.isEmpty else { break }
                let index = candidates[Int(random.below(UInt64(candidates.count)))]
                taken.insert(index)
                chosen.append(ids[index])
            }
            decisionSeconds.append(Self.seconds(since: started))
            return ArmDecision(work: item, chosen: chosen)
        }
    }

    /// Applies a round's decisions to the arm's state and counts them; returns the events applied.
    func commit(_ decisions: [ArmDecision], height: UInt64, nowMillis: UInt64, engine: String) throws(ApplyError) -> [Event] {
        var applied: [Event] = []
        for item in decisions {
            counters.decisions += 1
            if item.work.isRepair { counters.repairs += 1 }
            if let decision = item.decision {
                counters.instructions &+= decision.instructions
                counters.peakMemory = max(counters.peakMemory, decision.peakMemory)
            }
            guard let chosen = item.chosen else {
                counters.failed += 1
                counters.lastFailure = item.failure
                blocked.insert(item.work.request.hash)
                continue
            }
            if chosen.count < item.work.request.want {
                counters.unplaceable += 1
                blocked.insert(item.work.request.hash)
            }
            guard !chosen.isEmpty else { continue }
            var provenance = item.decision?.provenance
            if case let .policy(resolved) = decider {
                provenance?.context = PlacementContext(
                    parametersDigest: resolved.parametersDigest, snapshotHeight: height, engine: engine)
            }
            let events = zip(item.work.freeIndexes, chosen).map { index, node in
                Event.replicaAdded(
                    hash: item.work.request.hash, nodeID: node, replicaIndex: index, addedAtMillis: nowMillis, provenance: provenance)
            }
            try machine.apply(events: events)
            applied += events
            let bytes = item.work.request.sizeBytes &* UInt64(chosen.count)
            counters.replicasPlaced += UInt64(chosen.count)
            counters.bytesPlaced &+= bytes
            if item.work.isRepair { counters.repairBytes &+= bytes }
        }
        return applied
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
