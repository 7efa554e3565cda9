import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNScheduler
import Logging
import ServiceLifecycle

/// A running coordinator: the I/O shell around the pure state machine. It follows the DA with a
/// ``DAConsumer``, publishes through an ``EventPublisher`` whose durable journal is a ``FileOutbox``,
/// places replicas of under-replicated chunks with the configured policy, and answers the HTTP API.
///
/// **Start-up** (``run()``): take the data-directory lock, catch up with the DA head, hand the outbox's
/// backlog to the publisher (sealed blobs resubmitted with their sequence, the rest published), wait until
/// that backlog is applied, then accept events and place replicas. Reads are served from the first moment.
///
/// **Shutdown** (graceful, from SIGTERM/SIGINT through ServiceLifecycle, or cancellation): stop accepting
/// events, stop placing, flush the publisher (a final flush; what cannot be flushed stays in the outbox),
/// stop following.
public actor CoordinatorNode: Service {
    /// Where the coordinator is in its life.
    public enum Phase: String, Sendable {
        /// Catching up with the DA and draining the outbox: reads work, submissions are refused.
        case starting
        /// Serving.
        case ready
        /// Shutting down: submissions are refused.
        case stopping
        /// Stopped after an error the coordinator cannot fix by retrying (see ``failure``).
        case failed
        /// Stopped.
        case stopped
    }

    /// The configuration.
    public nonisolated let configuration: CoordinatorConfiguration
    /// The DA followed and published to.
    public nonisolated let da: any DALayer
    /// The consumer (owns the state machine).
    public nonisolated let consumer: DAConsumer
    /// The publisher (its journal is ``outbox``).
    public nonisolated let publisher: EventPublisher
    /// The durable outbox.
    public nonisolated let outbox: FileOutbox
    /// Metrics for `GET /metrics`.
    public nonisolated let metrics: CoordinatorMetrics
    /// The logger.
    public nonisolated let logger: Logger

    /// The current phase.
    public private(set) var phase: Phase = .starting
    /// Why the coordinator failed, when it did.
    public private(set) var failure: String?
    /// Placement counters.
    public private(set) var placementCounters = PlacementCounters()

    private let lock: DirectoryLock
    private var accepted: [(id: Int, events: [Event])] = []
    private var nextAcceptedID = 0
    private var inFlight: [Hash256: InFlight] = [:]  // lookup only; never iterated for output
    private var readyWaiters: [CheckedContinuation<Void, Never>] = []

    private enum InFlight {
        case publishing
        case landed(UInt64)
    }

    /// Counters of the recovery of this coordinator's own refused blobs.
    public struct RecoveryCounters: Hashable, Sendable {
        /// Own blobs the state machine refused (an event became invalid between acceptance and landing).
        public var blobsRefused: UInt64 = 0
        /// Events of refused blobs published again.
        public var eventsRepublished: UInt64 = 0
        /// Events dropped because they are invalid against the state they landed on.
        public var eventsDropped: UInt64 = 0
    }

    /// Recovery counters.
    public private(set) var recoveryCounters = RecoveryCounters()

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
    }

    /// Opens a coordinator on `da`: takes the data directory's lock and opens the outbox. Nothing runs
    /// until ``run()``. Throws a one-line error when the directory is locked by another coordinator or
    /// the outbox is corrupted.
    public init(configuration: CoordinatorConfiguration, da: any DALayer, logger: Logger) throws(RuntimeError) {
        self.configuration = configuration
        self.da = da
        self.logger = logger
        lock = try DirectoryLock.acquire(directory: configuration.dataDirectory)
        outbox = try FileOutbox(directory: configuration.dataDirectory)
        metrics = CoordinatorMetrics()
        consumer = DAConsumer(da: da, namespace: configuration.namespace, options: configuration.consumer)
        publisher = try EventPublisher(
            da: da, namespace: configuration.namespace, publisherID: configuration.publisherID,
            options: configuration.publisher, journal: outbox)
        if outbox.tornBytesCut > 0 {
            logger.warning("outbox: cut a torn tail", metadata: ["bytes": "\(outbox.tornBytesCut)"])
        }
    }

    // MARK: - Running

    /// Runs until cancelled or gracefully shut down. Throws when following the DA fails for good
    /// (pruned history, refused credentials, corrupted storage).
    public func run() async throws {
        let consumer = self.consumer
        let logger = self.logger
        logger.info(
            "coordinator starting",
            metadata: [
                "publisher": "\(configuration.publisherID)", "namespace": "\(configuration.namespace)",
                "outbox_backlog": "\(outbox.backlog.events.count)",
            ])
        defer { lock.release() }
        let rejections = await consumer.rejections()
        let publisher = self.publisher
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await publisher.run() }  // the publisher's loop; ends after stop() or on cancellation
            group.addTask { [self] in
                // Ends when the consumer stops.
                for await rejection in rejections { await self.recover(rejection) }
            }
            group.addTask {
                do {
                    try await consumer.run()
                } catch {
                    logger.error("consumer stopped: \(error)")
                    throw error
                }
            }
            group.addTask { [self] in
                do {
                    try await cancelWhenGracefulShutdown {
                        try await self.startUp()
                        try await self.scheduleForever()
                    }
                } catch is CancellationError {
                    // Graceful shutdown or cancellation: fall through to the orderly stop.
                }
            }
            do {
                // The scheduling task ends on graceful shutdown; then stop the rest.
                try await group.next()
                await shutDown()
                group.cancelAll()
                while let _ = try await group.next() {}
            } catch {
                await shutDown()
                group.cancelAll()
                phase = .failed
                failure = "\(error)"
                throw error
            }
        }
        if phase != .failed { phase = .stopped }
        let finalHeight = await consumer.appliedHeight
        logger.info("coordinator stopped", metadata: ["applied_height": "\(finalHeight)"])
    }

    private func startUp() async throws {
        // Catch up with the head as of now, so the publisher knows its last applied sequence.
        let head = try await headWithRetry()
        try await consumer.waitUntilApplied(head)
        let applied = await consumer.snapshot().cursor.publisherSequences[configuration.publisherID] ?? 0
        let backlog = outbox.backlog
        await publisher.restore(backlog, appliedSequence: applied)
        if !backlog.isEmpty {
            logger.info(
                "outbox: republishing after restart",
                metadata: ["sealed_blobs": "\(backlog.sealed.count)", "unsealed_events": "\(backlog.unsealed.count)"])
            // Wait (cancellably: a SIGTERM during an outage must not hang) until the backlog is on the DA.
            try await publisher.waitUntilDrained()
            let drainedHead = try await headWithRetry()
            try await consumer.waitUntilApplied(drainedHead)
        }
        phase = .ready
        for waiter in readyWaiters { waiter.resume() }
        readyWaiters = []
        await refreshMetrics()
        let readyHeight = await consumer.appliedHeight
        logger.info("coordinator ready", metadata: ["applied_height": "\(readyHeight)"])
    }

    private func headWithRetry() async throws -> UInt64 {
        var attempt = 0
        while true {
            do {
                return try await da.head()
            } catch {
                guard error.isRetryable else { throw RuntimeError(.daFailure, "DA refused reading the head: \(error)") }
                attempt += 1
                logger.warning("DA head unavailable, retrying: \(error)")
                try await configuration.consumer.sleeper.sleep(for: configuration.consumer.backoff.delay(attempt: attempt))
            }
        }
    }

    private func shutDown() async {
        guard phase != .stopping, phase != .stopped else { return }
        phase = .stopping
        for waiter in readyWaiters { waiter.resume() }
        readyWaiters = []
        let backlog = await publisher.backlog
        logger.info("coordinator stopping: final flush", metadata: ["backlog": "\(backlog)"])
        let (publisher, timeout) = (self.publisher, configuration.finalFlushTimeout)
        // Bounded: with the DA down the flush cannot finish, and what is pending is safe in the outbox.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await publisher.stop() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        let left = await publisher.backlog
        if left > 0 {
            logger.warning("final flush incomplete: events stay in the outbox for the next start", metadata: ["events": "\(left)"])
        }
    }

    /// Suspends until the coordinator is ready (or stopping).
    public func waitUntilReady() async {
        if phase != .starting { return }
        await withCheckedContinuation { readyWaiters.append($0) }
    }

    // MARK: - Scheduling loop

    private func scheduleForever() async throws {
        guard configuration.policy != nil else {
            // No policy: nothing to place; just keep the metrics fresh until shut down.
            for await _ in await consumer.appliedHeights() { await refreshMetrics() }
            return
        }
        for await height in await consumer.appliedHeights() {
            if Task.isCancelled { break }
            await refreshMetrics()
            await scheduleRound(appliedHeight: height)
        }
    }

    /// One scheduling round: place every under-replicated chunk that has no placement in flight.
    public func scheduleRound(appliedHeight: UInt64) async {
        guard phase == .ready, let policy = configuration.policy else { return }
        if configuration.scheduling.onlyWhenCaughtUp, await consumer.lag > 0 { return }
        placementCounters.rounds += 1
        // Forget in-flight marks whose placement is applied now.
        inFlight = inFlight.filter { _, mark in
            if case let .landed(height) = mark { return height > appliedHeight }
            return true
        }
        let state = await consumer.snapshot()
        let candidates = state.underReplicatedChunks().filter { inFlight[$0] == nil }
            .prefix(configuration.scheduling.maxChunksPerRound)
        guard !candidates.isEmpty else { return }
        let requests = candidates.compactMap { ChunkRequest(chunk: $0, in: state) }.filter { $0.want > 0 }
        let inputs = DecisionInputs(state: state)
        let results: [Result<PlacementDecision, PolicyError>]
        do {
            results = try Scheduler.place(requests, inputs: inputs, policy: policy, overrides: configuration.policyOverrides)
        } catch {
            placementCounters.policyErrors += UInt64(requests.count)
            placementCounters.lastPolicyError = error.description
            metrics.policyErrors.increment(by: Int64(requests.count))
            logger.error("policy parameters refused: \(error)")
            return
        }
        let now = wallClockMillis()
        for (request, result) in zip(requests, results) {
            switch result {
            case let .failure(error):
                placementCounters.policyErrors += 1
                placementCounters.lastPolicyError = error.description
                metrics.policyErrors.increment()
                logger.warning("placement failed", metadata: ["chunk": "\(request.hash)", "error": "\(error)"])
            case let .success(decision):
                if decision.chosen.count < request.want { placementCounters.unplaceable += 1 }
                guard !decision.chosen.isEmpty, let chunk = state.chunk(request.hash) else { continue }
                let used = Set(chunk.replicas.filter { !$0.isLost }.map(\.index))
                let free = (0..<UInt8(clamping: chunk.replicationFactor)).filter { !used.contains($0) }
                let events = zip(free, decision.chosen).map { index, node in
                    Event.replicaAdded(
                        hash: request.hash, nodeID: node, replicaIndex: index, addedAtMillis: now,
                        provenance: decision.provenance)
                }
                do {
                    let tickets = try await publisher.enqueue(events)
                    inFlight[request.hash] = .publishing
                    placementCounters.placed += UInt64(events.count)
                    metrics.placements.increment(by: Int64(events.count))
                    logger.info(
                        "placed", metadata: ["chunk": "\(request.hash)", "nodes": "\(decision.chosen)", "policy": "\(decision.policyName)@\(decision.policyVersion)"])
                    if let last = tickets.last { track(request.hash, ticket: last) }
                } catch {
                    logger.warning("placement not published: \(error)")
                    return
                }
            }
        }
    }

    private func track(_ hash: Hash256, ticket: PublishTicket) {
        Task { [weak self] in
            do {
                let receipt = try await ticket.inclusion()
                await self?.markLanded(hash, height: receipt.reference.height)
            } catch {
                await self?.forget(hash)
            }
        }
    }

    private func markLanded(_ hash: Hash256, height: UInt64) { inFlight[hash] = .landed(height) }
    private func forget(_ hash: Hash256) { inFlight[hash] = nil }

    // MARK: - Submissions

    /// What an accepted submission returns.
    public struct Acceptance: Sendable {
        /// The events' ids in the outbox (durable).
        public var ids: [UInt64]
        /// Inclusion, when the caller asked to wait for it.
        public var receipt: PublishReceipt?
    }

    /// Accepts `events` from an operator or client: checks them against the current state (after what was
    /// accepted and not applied yet), makes them durable in the outbox and, with `waitForInclusion`,
    /// waits until their blob is on the DA. Throws a one-line error and accepts nothing when an event
    /// is invalid, the backlog is full, or the coordinator is not ready.
    public func submit(_ events: [Event], waitForInclusion: Bool) async throws -> Acceptance {
        guard phase == .ready else {
            throw SubmissionError(.notReady, "the coordinator is \(phase.rawValue); retry when /health says ready")
        }
        guard !events.isEmpty else { throw SubmissionError(.invalid, "no events") }
        do {
            try await consumer.dryRun(events, after: accepted.map(\.events))
        } catch {
            throw SubmissionError(.invalid, error.description)
        }
        let started = ContinuousClock.now
        let tickets: [PublishTicket]
        do {
            tickets = try await publisher.enqueue(events)
        } catch {
            throw SubmissionError(error.code == .backpressure ? .backpressure : .unavailable, error.message)
        }
        nextAcceptedID += 1
        let acceptedID = nextAcceptedID
        accepted.append((acceptedID, events))
        // One ticket per event: the last one's blob is the last to land.
        let last = tickets[tickets.count - 1]
        let consumer = self.consumer
        let inclusion = Task { () -> Result<PublishReceipt, RuntimeError> in
            do throws(RuntimeError) {
                let receipt = try await last.inclusion()
                try? await consumer.waitUntilApplied(receipt.reference.height)
                return .success(receipt)
            } catch {
                return .failure(error)
            }
        }
        Task { [weak self] in
            let result = await inclusion.value
            if case .success = result { self?.metrics.publishLatency.record(duration: ContinuousClock.now - started) }
            await self?.dropAccepted(acceptedID)
        }
        let ids = tickets.map(\.id)
        guard waitForInclusion else { return Acceptance(ids: ids, receipt: nil) }
        // A caller that waits is not made to wait for the batch interval too.
        await publisher.flush()
        switch await inclusion.value {
        case let .success(receipt): return Acceptance(ids: ids, receipt: receipt)
        case let .failure(error): throw SubmissionError(.unavailable, "accepted (durable in the outbox) but not yet included: \(error.message)")
        }
    }

    private func dropAccepted(_ id: Int) { accepted.removeAll { $0.id == id } }

    /// One of this coordinator's blobs was refused as a whole because one event became invalid between
    /// acceptance and landing (another writer changed the state). The refused event is dropped, with a
    /// log line naming it; every other event of the blob is checked again and published again, so an
    /// acknowledged event is lost only if it is itself invalid where it lands.
    private func recover(_ rejection: BlobRejection) async {
        guard rejection.publisherID == configuration.publisherID, let sequence = rejection.sequence else { return }
        recoveryCounters.blobsRefused += 1
        guard let events = await publisher.events(ofSequence: sequence) else {
            logger.error("own blob refused and its events are no longer known", metadata: ["sequence": "\(sequence)", "reason": "\(rejection.message)"])
            return
        }
        var remaining = events
        var drops: [(Event, String)] = []
        if let index = rejection.eventIndex, remaining.indices.contains(index) {
            drops.append((remaining.remove(at: index), rejection.message))
        }
        while !remaining.isEmpty {
            do {
                try await consumer.dryRun(remaining, after: accepted.map(\.events))
                break
            } catch {
                guard let index = error.eventIndex, remaining.indices.contains(index) else {
                    drops += remaining.map { ($0, error.description) }
                    remaining = []
                    break
                }
                drops.append((remaining.remove(at: index), error.description))
            }
        }
        for (event, why) in drops {
            recoveryCounters.eventsDropped += 1
            logger.warning("dropped an accepted event that became invalid", metadata: ["event": "\(event.type)", "sequence": "\(sequence)", "reason": "\(why)"])
        }
        guard !remaining.isEmpty else { return }
        do {
            _ = try await publisher.enqueue(remaining)
            recoveryCounters.eventsRepublished += UInt64(remaining.count)
            logger.notice("republished the valid events of a refused blob", metadata: ["sequence": "\(sequence)", "events": "\(remaining.count)"])
        } catch {
            logger.error("could not republish the events of refused blob \(sequence): \(error)")
        }
    }

    // MARK: - Reading

    /// A point-in-time status for `/v1/state`: the summary and checksum belong to `appliedHeight`.
    public func status() async -> CoordinatorStatus {
        let view = await consumer.view()
        return CoordinatorStatus(
            phase: phase, failure: failure, publisherID: configuration.publisherID,
            namespace: configuration.namespace.description, appliedHeight: view.appliedHeight,
            head: view.head, consumerHealth: view.health, summary: view.state.summary(), cursor: view.state.cursor,
            publisherSequence: await publisher.lastSequence, publishBacklog: await publisher.backlog,
            outboxEvents: outbox.outstandingCount, publisherHalted: await publisher.halted?.description,
            placements: placementCounters, recovery: recoveryCounters,
            policy: configuration.policy.map { "\($0.name)@\($0.version)" })
    }

    /// What `/health` reports: cheap, no pass over the state.
    public func health() async -> CoordinatorHealth {
        CoordinatorHealth(
            phase: phase, failure: failure, appliedHeight: await consumer.appliedHeight, head: await consumer.head,
            consumerHealth: await consumer.health, publishBacklog: await publisher.backlog,
            publisherHalted: await publisher.halted?.description, lastPolicyError: placementCounters.lastPolicyError)
    }

    /// The current derived state (a value; readers may keep it).
    public func snapshot() async -> DerivedState { await consumer.snapshot() }

    /// Brings the metrics up to date.
    public func refreshMetrics() async {
        metrics.refresh(
            consumer: await consumer.counters, cursor: await consumer.cursor, publisher: await publisher.counters,
            backlog: await publisher.backlog, appliedHeight: await consumer.appliedHeight, head: await consumer.head)
    }
}

/// The liveness and readiness of a running coordinator.
public struct CoordinatorHealth: Sendable {
    /// The phase.
    public var phase: CoordinatorNode.Phase
    /// Why it failed, if it did.
    public var failure: String?
    /// The last applied DA height.
    public var appliedHeight: UInt64
    /// The newest DA height seen.
    public var head: UInt64
    /// The consumer's health.
    public var consumerHealth: DAConsumer.Health
    /// Events accepted and not yet included.
    public var publishBacklog: Int
    /// Why publishing stopped, if it did.
    public var publisherHalted: String?
    /// The last policy error, if any.
    public var lastPolicyError: String?

    /// Heights not yet applied.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }
    /// Ready, following the DA, and publishing.
    public var isHealthy: Bool { phase == .ready && consumerHealth.isHealthy && publisherHalted == nil }
}

/// A status snapshot of a running coordinator.
public struct CoordinatorStatus: Sendable {
    /// The phase.
    public var phase: CoordinatorNode.Phase
    /// Why it failed, if it did.
    public var failure: String?
    /// This coordinator's publisher id.
    public var publisherID: String
    /// The namespace, hex.
    public var namespace: String
    /// The last applied DA height.
    public var appliedHeight: UInt64
    /// The newest DA height seen.
    public var head: UInt64
    /// The consumer's health.
    public var consumerHealth: DAConsumer.Health
    /// State counts and checksum.
    public var summary: StateSummary
    /// Delivery counters.
    public var cursor: DeliveryCursor
    /// The last sequence this coordinator published.
    public var publisherSequence: UInt64
    /// Events accepted and not yet included.
    public var publishBacklog: Int
    /// Events in the durable outbox.
    public var outboxEvents: Int
    /// Why publishing stopped (a DA refusal retrying cannot fix), if it did; a restart resumes it.
    public var publisherHalted: String?
    /// Scheduling counters.
    public var placements: CoordinatorNode.PlacementCounters
    /// Recovery of refused own blobs.
    public var recovery: CoordinatorNode.RecoveryCounters
    /// The active policy, `name@version`.
    public var policy: String?

    /// Heights not yet applied.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }
}

/// Why a submission was refused.
public struct SubmissionError: Error, Sendable, CustomStringConvertible {
    /// The class.
    public enum Code: String, Sendable {
        /// An event is invalid against the current state (HTTP 422).
        case invalid = "invalid_event"
        /// The backlog is full (HTTP 503, retry).
        case backpressure
        /// The coordinator is starting or stopping (HTTP 503, retry).
        case notReady = "not_ready"
        /// The DA or the outbox failed (HTTP 503).
        case unavailable
    }

    /// The class.
    public var code: Code
    /// One line.
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
