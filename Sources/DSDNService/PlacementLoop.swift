import DSDNCore
import DSDNRuntime
import DSDNScheduler
import Logging
import ServiceLifecycle

/// Counters of the scheduling loop.
public struct PlacementCounters: Hashable, Sendable {
    /// Scheduling rounds run.
    public var rounds: UInt64 = 0
    /// Replica placements published.
    public var placed: UInt64 = 0
    /// Chunks for which the policy failed.
    public var policyErrors: UInt64 = 0
    /// Chunks no node could take (the policy chose fewer nodes than wanted).
    public var unplaceable: UInt64 = 0
    /// The last policy error, for `/health`.
    public var lastPolicyError: String?
    /// Under-replicated chunks the last round saw left to the coordinator that ranks first for them.
    public var deferred: UInt64 = 0
}

/// Places replicas of under-replicated chunks with the configured policy and turns each decision into
/// `ReplicaAdded` events for the publisher. Chunks with a placement in flight are skipped until it lands
/// (or fails), so one coordinator never places the same slot twice.
public actor PlacementLoop {
    let consumer: DAConsumer
    let publisher: EventPublisher
    let lifecycle: CoordinatorLifecycle
    let metrics: CoordinatorMetrics
    let configuration: CoordinatorConfiguration
    let evaluator: PolicyEvaluator
    let intake: Intake
    let library: PolicyLibrary
    let logger: Logger

    /// Placement counters.
    public private(set) var counters = PlacementCounters()
    /// Shadow verdicts per shadow version (`name@version`), since this coordinator started.
    public private(set) var shadowTallies: [String: ShadowTally] = [:]  // lookup only; read out sorted
    private var inFlight: [Hash256: InFlight] = [:]  // lookup only; never iterated for output
    /// When each under-replicated chunk was first seen waiting (lookup only).
    private var waitingSince: [Hash256: ContinuousClock.Instant] = [:]

    private enum InFlight {
        case publishing
        case landed(UInt64)
    }

    /// A published placement whose inclusion the service follows.
    struct Published: Sendable {
        var chunk: Hash256
        var ticket: PublishTicket
        /// The intake's id of these events, forgotten once they are applied or failed.
        var intakeID: Int
    }

    init(
        consumer: DAConsumer, publisher: EventPublisher, lifecycle: CoordinatorLifecycle, metrics: CoordinatorMetrics,
        configuration: CoordinatorConfiguration, evaluator: PolicyEvaluator, intake: Intake, library: PolicyLibrary,
        logger: Logger
    ) {
        self.consumer = consumer
        self.publisher = publisher
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.configuration = configuration
        self.evaluator = evaluator
        self.intake = intake
        self.library = library
        self.logger = logger
    }

    /// One scheduling round: place every under-replicated chunk that has no placement in flight. Returns
    /// the placements published, for the caller to follow until they land.
    func round(appliedHeight: UInt64) async -> [Published] {
        guard lifecycle.phase == .ready, configuration.placesReplicas else { return [] }
        if configuration.scheduling.onlyWhenCaughtUp, await consumer.lag > 0 { return [] }
        counters.rounds += 1
        // Forget in-flight marks whose placement is applied now.
        inFlight = inFlight.filter { _, mark in
            if case let .landed(height) = mark { return height > appliedHeight }
            return true
        }
        let waiting = await consumer.read { $0.underReplicatedChunks() }.filter { inFlight[$0] == nil }
        // Divide the work: each chunk has a preferred coordinator among the active ones; the others
        // defer to it by rank and place only what it leaves undone.
        let scheduling = configuration.scheduling
        let since = appliedHeight >= scheduling.membershipWindow ? appliedHeight - scheduling.membershipWindow + 1 : 1
        var members = await consumer.placers(seenSince: since)
        if !members.contains(configuration.publisherID) { members.append(configuration.publisherID) }
        let now = ContinuousClock.now
        waitingSince = Dictionary(uniqueKeysWithValues: waiting.map { ($0, waitingSince[$0] ?? now) })
        // Ranks are hashed only until a round's worth of candidates is found.
        var deferred: UInt64 = 0
        var candidates: [Hash256] = []
        for chunk in waiting where candidates.count < scheduling.maxChunksPerRound {
            let rank = Self.rank(of: configuration.publisherID, for: chunk, among: members)
            if now - (waitingSince[chunk] ?? now) >= scheduling.deferral * rank {
                candidates.append(chunk)
            } else {
                deferred += 1
            }
        }
        counters.deferred = deferred
        guard !candidates.isEmpty else { return [] }
        // What the round needs is read inside the consumer, in one read: the chunks, the node registry
        // and the placement policy active at this snapshot, with its height. So a round never mixes
        // versions, and a new activation applies from the first round whose snapshot includes it. The
        // consumer does only the round's own chunks there: the node registry comes out in O(1) without
        // the chunk table (holding it never makes the next apply copy the chunks), and every pass over
        // the nodes runs on an evaluation thread.
        let chosenChunks = candidates
        let (work, registry, active, shadowVersion, snapshotHeight) = await consumer.readApplied { state, height in
            let work = chosenChunks.compactMap { hash -> Work? in
                guard let request = ChunkRequest(chunk: hash, in: state), request.want > 0, let chunk = state.chunk(hash) else {
                    return nil
                }
                let used = Set(chunk.replicas.filter { !$0.isLost }.map(\.index))
                return Work(request: request, freeIndexes: (0..<UInt8(clamping: chunk.replicationFactor)).filter { !used.contains($0) })
            }
            let active = state.placementPolicy.flatMap { state.policyVersion($0.name, $0.version) }
            let shadow = state.shadowPolicy.flatMap { $0 == state.placementPolicy ? nil : state.policyVersion($0.name, $0.version) }
            return (work, state.nodeRegistry, active, shadow, height)
        }
        guard !work.isEmpty else { return [] }
        guard let active else {
            // Shown by `/health`: chunks wait until a version is published and activated.
            counters.lastPolicyError = "no placement policy is active: \(work.count) chunks wait (policy publish FILE --activate)"
            return []
        }
        let library = library
        let resolution: Result<ResolvedPolicy, PolicyError>
        do throws(PolicyEvaluationError) {
            resolution = try await evaluator.run { Result { () throws(PolicyError) in try library.resolve(active) } }
        } catch {
            return []
        }
        let resolved: ResolvedPolicy
        switch resolution {
        case let .success(value): resolved = value
        case let .failure(error):
            // A version that cannot decide leaves the chunks waiting; it never stops the coordinator.
            counters.policyErrors += UInt64(work.count)
            counters.lastPolicyError = "\(active.release.label): \(error)"
            metrics.policyErrors.increment(by: Int64(work.count))
            logger.error("placement policy cannot decide", metadata: ["policy": "\(active.release.label)", "error": "\(error)"])
            return []
        }
        let policy = resolved.policy
        let context = PlacementContext(
            parametersDigest: resolved.parametersDigest, snapshotHeight: snapshotHeight, engine: configuration.engine)
        guard let inputs = try? await evaluator.run({ DecisionInputs(nodes: registry.allNodes(), zones: registry.zones()) }) else {
            return []
        }
        var published: [Published] = []
        // API level 1 decides one chunk per evaluation (each is a full pass over the nodes): this actor
        // (and `/health`, which reads its counters) is free meanwhile, and each placement is published as
        // soon as it is decided. Level 2 decides the round in one evaluation, in one warm sandbox.
        let batchSize = policy.apiLevel >= 2 ? work.count : 1
        var offset = 0
        // The shadow decides the same batches after the round's placements are published, so it never
        // delays them.
        var decided: [(batch: [Work], results: [Result<PlacementDecision, PolicyError>])] = []
        while offset < work.count {
            guard !Task.isCancelled, lifecycle.phase == .ready else { break }
            let batch = Array(work[offset..<min(work.count, offset + batchSize)])
            offset += batch.count
            let results: [Result<PlacementDecision, PolicyError>]
            do throws(PolicyEvaluationError) {
                // A round of many chunks stops between decisions once the coordinator is stopping.
                let lifecycle = lifecycle
                results = try await evaluator.place(
                    batch.map(\.request), inputs: inputs, policy: policy, overrides: resolved.overrides,
                    shouldStop: { lifecycle.phase != .ready })
            } catch {
                guard case let .policy(failure) = error else { break }
                results = batch.map { _ in .failure(failure) }
            }
            decided.append((batch, results))
            // The batch's placements are made durable together: one journal write (and fsync) per
            // evaluation, not one per chunk.
            var placements: [(request: ChunkRequest, decision: PlacementDecision, events: [Event])] = []
            let now = wallClockMillis()
            for (item, result) in zip(batch, results) {
                let request = item.request
                let decision: PlacementDecision
                switch result {
                case let .success(value): decision = value
                case let .failure(failure):
                    counters.policyErrors += 1
                    counters.lastPolicyError = "\(resolved.label): \(failure)"
                    metrics.policyErrors.increment()
                    logger.warning(
                        "placement failed", metadata: ["chunk": "\(request.hash)", "policy": "\(resolved.label)", "error": "\(failure)"])
                    continue
                }
                if decision.chosen.count < request.want { counters.unplaceable += 1 }
                guard !decision.chosen.isEmpty else { continue }
                var provenance = decision.provenance
                provenance.context = context
                let events = zip(item.freeIndexes, decision.chosen).map { index, node in
                    Event.replicaAdded(hash: request.hash, nodeID: node, replicaIndex: index, addedAtMillis: now, provenance: provenance)
                }
                placements.append((request, decision, events))
            }
            guard !placements.isEmpty else { continue }
            let enqueued: [(tickets: [PublishTicket], id: Int)]
            do {
                enqueued = try await intake.enqueuePlacements(groups: placements.map(\.events))
            } catch {
                logger.warning("placements not published: \(error)")
                return published
            }
            for (placement, (tickets, intakeID)) in zip(placements, enqueued) {
                let request = placement.request
                inFlight[request.hash] = .publishing
                counters.placed += UInt64(placement.events.count)
                metrics.placements.increment(by: Int64(placement.events.count))
                logger.info(
                    "placed",
                    metadata: [
                        "chunk": "\(request.hash)", "nodes": "\(placement.decision.chosen)",
                        "policy": "\(placement.decision.policyName)@\(placement.decision.policyVersion)",
                    ])
                if let last = tickets.last { published.append(Published(chunk: request.hash, ticket: last, intakeID: intakeID)) }
            }
        }
        // A shadow version decides the same chunks on the same inputs; nothing it decides is published.
        if let shadowVersion, !decided.isEmpty,
            let shadow = try? await evaluator.run({ Result { () throws(PolicyError) in try library.resolve(shadowVersion) } })
        {
            for (batch, results) in decided {
                await compareShadow(
                    shadow, label: shadowVersion.release.label, placement: resolved.label, batch: batch, results: results, inputs: inputs,
                    snapshotHeight: snapshotHeight)
            }
        }
        return published
    }

    /// Decides `batch` with the shadow version and counts each verdict against the placement's.
    private func compareShadow(
        _ shadow: Result<ResolvedPolicy, PolicyError>, label: String, placement: String, batch: [Work],
        results: [Result<PlacementDecision, PolicyError>], inputs: DecisionInputs, snapshotHeight: UInt64
    ) async {
        let shadowResults: [Result<PlacementDecision, PolicyError>]
        switch shadow {
        case let .success(resolved):
            do throws(PolicyEvaluationError) {
                let lifecycle = lifecycle
                shadowResults = try await evaluator.place(
                    batch.map(\.request), inputs: inputs, policy: resolved.policy, overrides: resolved.overrides,
                    shouldStop: { lifecycle.phase != .ready })
            } catch {
                guard case let .policy(failure) = error else { return }
                shadowResults = batch.map { _ in .failure(failure) }
            }
        case let .failure(failure):
            shadowResults = batch.map { _ in .failure(failure) }
        }
        var tally = shadowTallies[label] ?? ShadowTally(shadow: label, placement: placement)
        tally.placement = placement
        for (item, (placed, shadowed)) in zip(batch, zip(results, shadowResults)) {
            let verdict = ShadowVerdict.compare(placement: placed, shadow: shadowed)
            tally.record(verdict, chunk: item.request.hash, snapshotHeight: snapshotHeight)
            metrics.shadowDecision(version: label, verdict: verdict)
            if case let .disagree(placement, shadow) = verdict {
                logger.info(
                    "shadow disagrees",
                    metadata: [
                        "chunk": "\(item.request.hash)", "shadow": "\(label)", "placed": "\(placement)", "shadow_chose": "\(shadow)",
                    ])
            }
        }
        shadowTallies[label] = tally
    }

    /// A chunk to place and the replica slots free for it.
    struct Work: Sendable {
        var request: ChunkRequest
        var freeIndexes: [UInt8]
    }

    /// The rank of `coordinator` for `chunk` among `members` (0: the preferred one): the position of its
    /// SHA-256(chunk ‖ id) in ascending byte order. Every coordinator computes the same ranks from the
    /// same members.
    static func rank(of coordinator: String, for chunk: Hash256, among members: [String]) -> Int {
        let own = sha256(chunk.bytes + Array(coordinator.utf8))
        return members.filter { member in
            member != coordinator && sha256(chunk.bytes + Array(member.utf8)).bytes.lexicographicallyPrecedes(own.bytes)
        }.count
    }

    /// Follows a published placement: once its blob is on the DA the chunk stays skipped until that
    /// height is applied; if publishing failed it may be placed again.
    func follow(_ placement: Published) async {
        do throws(RuntimeError) {
            let receipt = try await placement.ticket.inclusion()
            inFlight[placement.chunk] = .landed(receipt.reference.height)
            try? await consumer.waitUntilApplied(receipt.reference.height)
        } catch {
            inFlight[placement.chunk] = nil
        }
        await intake.forget(placement.intakeID)
    }
}

/// Runs the scheduling loop: after start-up, one round after every applied height (and the metrics
/// brought up to date) and one every `tickInterval` without a new height (so chunks deferred to a
/// coordinator that went away are placed on a quiet DA), until graceful shutdown.
struct PlacementService: Service {
    let loop: PlacementLoop
    let node: CoordinatorNode

    func run() async throws {
        let loop = self.loop
        await cancelWhenGracefulShutdown { await node.lifecycle.waitUntilReady() }
        if node.lifecycle.phase == .ready {
            let (triggers, trigger) = AsyncStream<UInt64?>.makeStream()
            let heights = await node.consumer.appliedHeights()
            let (interval, sleeper) = (node.configuration.scheduling.tickInterval, node.configuration.consumer.sleeper)
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await height in heights { trigger.yield(height) }
                    trigger.finish()
                }
                group.addTask {
                    while true {
                        do { try await sleeper.sleep(for: interval) } catch { return }
                        trigger.yield(nil)
                    }
                }
                for await height in triggers.cancelOnGracefulShutdown() {
                    // A tick without a new height matters only while chunks wait for another coordinator.
                    if height == nil, await loop.counters.deferred == 0 { continue }
                    if height != nil { await node.refreshMetrics() }
                    let applied = if let height { height } else { await node.consumer.appliedHeight }
                    for placement in await loop.round(appliedHeight: applied) {
                        group.addTask { await loop.follow(placement) }
                    }
                }
                group.cancelAll()
            }
        }
        // Ending before the group asks would cut its orderly shutdown short (a failed start-up, a stopped
        // consumer): wait for it.
        try? await gracefulShutdown()
    }
}
