import DSDNCore
import DSDNDA
import DSDNRuntime
import Logging
import ServiceLifecycle

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
    /// The error this one wraps, if any.
    public var cause: (any Error & Sendable)?

    init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// What an accepted submission returns.
public struct Acceptance: Sendable {
    /// The events' ids in the outbox (durable).
    public var ids: [UInt64]
    /// Each event's fate, in order, when the caller asked to wait for it (pending only if the
    /// coordinator stopped first).
    public var fates: [EventFate]?
}

/// What became of an accepted event. Every accepted event ends applied or refused, and a refusal is a
/// fact on the DA: the blob that carried the event was rejected there, naming it, so every coordinator
/// sees it exactly as it would have seen the event.
public enum EventFate: Sendable, Hashable {
    /// Not on the DA and applied yet.
    case pending
    /// Applied at `height`, in this coordinator's blob `sequence`.
    case applied(height: UInt64, sequence: UInt64)
    /// Its blob was rejected at `height` because of this event, for `reason`.
    case refused(height: UInt64, reason: String)

    /// Applied or refused.
    public var isFinal: Bool { self != .pending }
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

/// Takes events from operators and clients into the publisher, and owns what follows from accepting
/// them: the start-up drain of the outbox, the list of accepted events not yet applied (so a new
/// submission is checked against them too), waiting for inclusion, and the recovery of this
/// coordinator's own blobs that the state machine refused.
public actor Intake {
    let consumer: DAConsumer
    let publisher: EventPublisher
    let outbox: FileOutbox
    let lifecycle: CoordinatorLifecycle
    let metrics: CoordinatorMetrics
    let configuration: CoordinatorConfiguration
    let logger: Logger

    /// Recovery counters.
    public private(set) var recoveryCounters = RecoveryCounters()

    /// Events this coordinator enqueued (submissions, placements, republished events) and not yet seen
    /// applied or refused, in order: what a new submission is checked after.
    private var accepted: [(id: Int, events: [Event])] = []
    private var nextAcceptedID = 0
    /// The fates of recently accepted events by ticket id (the last 100,000; lookup only).
    private var fates = RecentMap<UInt64, EventFate>(limit: 100_000)
    /// A republished event's ticket id → the id its submitter was given (lookup only).
    private var origin: [UInt64: UInt64] = [:]
    /// Callers waiting until each of their events is applied or refused, by accepted id (lookup only).
    private var fateWaiters: [Int: (ids: [UInt64], continuation: CheckedContinuation<[EventFate], Never>)] = [:]
    private var stopped = false
    private nonisolated let tracked: AsyncStream<Tracked>
    private nonisolated let trackedInput: AsyncStream<Tracked>.Continuation

    /// Enqueued events whose inclusion the service follows.
    struct Tracked: Sendable {
        var id: Int
        var tickets: [PublishTicket]
        var started: ContinuousClock.Instant
    }

    init(
        consumer: DAConsumer, publisher: EventPublisher, outbox: FileOutbox, lifecycle: CoordinatorLifecycle,
        metrics: CoordinatorMetrics, configuration: CoordinatorConfiguration, logger: Logger
    ) {
        self.consumer = consumer
        self.publisher = publisher
        self.outbox = outbox
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        (tracked, trackedInput) = AsyncStream<Tracked>.makeStream()
    }

    // MARK: - Start-up

    /// Catches up with the head as of now (so the publisher knows its last applied sequence), hands the
    /// outbox's backlog to the publisher, waits until that backlog is on the DA and applied, then marks
    /// the coordinator ready.
    func startUp() async throws {
        let head = try await headWithRetry()
        try await consumer.waitUntilApplied(head)
        let applied = await consumer.cursor.publisherSequences[configuration.publisherID] ?? 0
        let backlog = outbox.backlog
        await publisher.restore(backlog, appliedSequence: applied)
        if !backlog.isEmpty {
            logger.info(
                "outbox: republishing after restart",
                metadata: ["sealed_blobs": "\(backlog.sealed.count)", "unsealed_events": "\(backlog.unsealed.count)"])
            try await publisher.waitUntilDrained()
            try await consumer.waitUntilApplied(try await headWithRetry())
        }
        lifecycle.markReady()
        let readyHeight = await consumer.appliedHeight
        logger.info("coordinator ready", metadata: ["applied_height": "\(readyHeight)"])
    }

    private func headWithRetry() async throws -> UInt64 {
        var attempt = 0
        while true {
            do {
                return try await consumer.da.head()
            } catch {
                guard error.isRetryable else {
                    throw RuntimeError(.daFailure, "DA refused reading the head: \(error)", cause: error)
                }
                attempt += 1
                logger.warning("DA head unavailable, retrying: \(error)")
                try await configuration.consumer.sleeper.sleep(for: configuration.consumer.backoff.delay(attempt: attempt))
            }
        }
    }

    // MARK: - Submissions

    /// Accepts `events`: checks them against the current state after what was accepted and not applied
    /// yet, makes them durable in the outbox and, with `waitForInclusion`, waits until their blob is on
    /// the DA and applied. Throws a one-line error and accepts nothing when an event is invalid, the
    /// backlog is full, or the coordinator is not ready.
    public func submit(_ events: [Event], waitForInclusion: Bool) async throws(SubmissionError) -> Acceptance {
        let phase = lifecycle.phase
        guard phase == .ready, !stopped else {
            throw SubmissionError(.notReady, "the coordinator is \(phase.rawValue); retry when /health says ready")
        }
        guard !events.isEmpty else { throw SubmissionError(.invalid, "no events") }
        do {
            try await consumer.dryRun(events, after: accepted.map(\.events))
        } catch {
            throw SubmissionError(.invalid, error.description, cause: error)
        }
        let tickets: [PublishTicket]
        do {
            tickets = try await publisher.enqueue(events)
        } catch {
            throw SubmissionError(error.code == .backpressure ? .backpressure : .unavailable, error.message, cause: error)
        }
        let ids = tickets.map(\.id)
        for id in ids { record(id, .pending) }
        guard !stopped else {
            // Stopped while this submission was checked and made durable: the outbox keeps it for the
            // next start, and nobody follows it in this one.
            guard !waitForInclusion else {
                throw SubmissionError(.unavailable, "accepted (durable in the outbox) but not yet included: the coordinator is stopping")
            }
            return Acceptance(ids: ids, fates: nil)
        }
        let id = track(events, tickets)
        guard waitForInclusion else { return Acceptance(ids: ids, fates: nil) }
        // A caller that waits is not made to wait for the batch interval too.
        await publisher.flush()
        let outcome = await finalFates(of: id, ids)
        guard outcome.allSatisfy(\.isFinal) else {
            throw SubmissionError(
                .unavailable, "accepted (durable in the outbox) but not yet included: the coordinator is stopping")
        }
        return Acceptance(ids: ids, fates: outcome)
    }

    /// Enqueues events on this coordinator's behalf (placements) so later submissions are checked after
    /// them too. Throws what ``EventPublisher/enqueue(_:)-([Event])`` throws.
    func enqueueInternal(_ events: [Event]) async throws(RuntimeError) -> [PublishTicket] {
        let tickets = try await publisher.enqueue(events)
        if !stopped { _ = track(events, tickets) }
        return tickets
    }

    /// Enqueues placements (a group of events per chunk) whose tickets the caller follows itself (a
    /// ticket has one follower), all or nothing and with one journal write for all of them. Each group
    /// counts for later submissions until the caller calls ``forget(_:)`` with its id, once its height
    /// is applied or publishing it failed.
    func enqueuePlacements(groups: [[Event]]) async throws(RuntimeError) -> [(tickets: [PublishTicket], id: Int)] {
        let tickets = try await publisher.enqueue(groups.flatMap { $0 })
        var offset = 0
        return groups.map { group in
            defer { offset += group.count }
            return (Array(tickets[offset..<offset + group.count]), count(group))
        }
    }

    /// Stops counting the events of the ``enqueuePlacements(groups:)`` group `id`.
    func forget(_ id: Int) { accepted.removeAll { $0.id == id } }

    /// The fate of the event given `id` at acceptance; `nil` when this coordinator does not know the id
    /// (not accepted since it started, or one of more than 100,000 newer ones pushed it out).
    public func fate(of id: UInt64) -> EventFate? { fates[id] }

    /// Counts `events` for later submissions' checks and has the service follow their tickets.
    private func track(_ events: [Event], _ tickets: [PublishTicket]) -> Int {
        let id = count(events)
        trackedInput.yield(Tracked(id: id, tickets: tickets, started: .now))
        return id
    }

    /// Counts `events` for later submissions' checks until they are applied or fail.
    private func count(_ events: [Event]) -> Int {
        nextAcceptedID += 1
        accepted.append((nextAcceptedID, events))
        return nextAcceptedID
    }

    private func record(_ id: UInt64, _ fate: EventFate) {
        fates.set(fate, for: id)
        guard fate.isFinal else { return }
        let ready = fateWaiters.filter { _, waiter in waiter.ids.allSatisfy { fates[$0]?.isFinal ?? true } }.map(\.key)
        for key in ready.sorted() {
            guard let waiter = fateWaiters.removeValue(forKey: key) else { continue }
            waiter.continuation.resume(returning: waiter.ids.map { fates[$0] ?? .pending })
        }
    }

    /// Settles the event behind ticket `id` (or the submitted event it was republished for).
    private func settle(_ id: UInt64, _ fate: EventFate) {
        let submitted = origin.removeValue(forKey: id) ?? id
        guard fates[submitted] != nil else { return }  // not a submission (a placement), or pushed out
        record(submitted, fate)
    }

    private func finalFates(of id: Int, _ ids: [UInt64]) async -> [EventFate] {
        let now = ids.map { fates[$0] ?? .pending }
        if now.allSatisfy(\.isFinal) || stopped { return now }
        return await withCheckedContinuation { fateWaiters[id] = (ids, $0) }
    }

    /// Follows enqueued events until each blob that carries them is on the DA and its height applied;
    /// an applied blob settles its events, a rejected one is left to ``recover(_:)``.
    func follow(_ item: Tracked) async {
        var landed = true
        for ticket in item.tickets {
            do throws(RuntimeError) {
                let receipt = try await ticket.inclusion()
                let height = receipt.reference.height
                try? await consumer.waitUntilApplied(height)
                switch await consumer.outcome(at: BlobPosition(height: height, index: receipt.reference.index)) {
                case .applied?, .duplicate?:
                    settle(ticket.id, .applied(height: height, sequence: receipt.sequence))
                case .rejected?:
                    landed = false
                case .outOfOrder?, nil:
                    logger.warning("no outcome for an own blob", metadata: ["height": "\(height)", "sequence": "\(receipt.sequence)"])
                }
            } catch {
                // Stopped, or the DA gave up: the events stay in the outbox for the next start.
                landed = false
            }
        }
        if landed { metrics.publishLatency.record(duration: ContinuousClock.now - item.started) }
        accepted.removeAll { $0.id == item.id }
    }

    /// Refuses new submissions and answers every caller still waiting for inclusion. Idempotent.
    func stop() {
        guard !stopped else { return }
        stopped = true
        trackedInput.finish()
        for key in fateWaiters.keys.sorted() {
            guard let waiter = fateWaiters.removeValue(forKey: key) else { continue }
            waiter.continuation.resume(returning: waiter.ids.map { fates[$0] ?? .pending })
        }
    }

    // MARK: - Recovery of refused own blobs

    /// One of this coordinator's blobs was rejected as a whole because one event became invalid between
    /// acceptance and landing (another writer changed the state). That event is refused: the rejection,
    /// on the DA, names it for every coordinator, and its submitter learns it by id. Every other event of
    /// the blob is published again, unchecked, so that a second invalid one is refused the same way, by
    /// the DA's own rejection, never by a local guess.
    func recover(_ rejection: BlobRejection) async {
        guard rejection.publisherID == configuration.publisherID, let sequence = rejection.sequence else { return }
        recoveryCounters.blobsRefused += 1
        guard let events = await publisher.events(ofSequence: sequence), let ids = await publisher.ids(ofSequence: sequence),
            ids.count == events.count
        else {
            logger.error(
                "own blob refused and its events are no longer known",
                metadata: ["sequence": "\(sequence)", "reason": "\(rejection.message)"])
            return
        }
        let height = rejection.position.height
        var keep = Array(events.indices)
        if let index = rejection.eventIndex, events.indices.contains(index) {
            keep.remove(at: index)
            refuse(ids[index], events[index], height: height, sequence: sequence, reason: rejection.message)
        } else {
            // The blob as a whole is refused (no event named): so is each of its events.
            for index in events.indices { refuse(ids[index], events[index], height: height, sequence: sequence, reason: rejection.message) }
            keep = []
        }
        guard !keep.isEmpty else { return }
        do {
            let tickets = try await enqueueInternal(keep.map { events[$0] })
            for (ticket, index) in zip(tickets, keep) { origin[ticket.id] = origin.removeValue(forKey: ids[index]) ?? ids[index] }
            recoveryCounters.eventsRepublished += UInt64(keep.count)
            logger.notice(
                "republished the other events of a refused blob", metadata: ["sequence": "\(sequence)", "events": "\(keep.count)"])
        } catch {
            logger.error("could not republish the events of refused blob \(sequence): \(error)")
        }
    }

    private func refuse(_ id: UInt64, _ event: Event, height: UInt64, sequence: UInt64, reason: String) {
        recoveryCounters.eventsDropped += 1
        // The id its submitter was given, not the id of a republished copy.
        let submitted = origin[id] ?? id
        logger.warning(
            "an accepted event was refused on the DA",
            metadata: [
                "event": "\(event.type)", "id": "\(submitted)", "sequence": "\(sequence)", "height": "\(height)", "reason": "\(reason)",
            ])
        settle(id, .refused(height: height, reason: reason))
    }

    /// The accepted submissions to follow, in order; ends after ``stop()``.
    nonisolated var submissions: AsyncStream<Tracked> { tracked }
}

/// Runs the intake: start-up, then following accepted submissions and recovering refused own blobs,
/// each in a child task, until graceful shutdown.
struct IntakeService: Service {
    let intake: Intake
    let lifecycle: CoordinatorLifecycle
    let logger: Logger

    func run() async throws {
        let intake = self.intake
        let rejections = await intake.consumer.rejections()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    for await rejection in rejections.cancelOnGracefulShutdown() { await intake.recover(rejection) }
                }
                do {
                    try await cancelWhenGracefulShutdown { try await intake.startUp() }
                } catch is CancellationError {
                    // Graceful shutdown during start-up.
                }
                // Ends when the shutdown gate stops the intake, or on this service's own shutdown.
                for await item in intake.submissions.cancelOnGracefulShutdown() {
                    group.addTask { await intake.follow(item) }
                }
                try? await gracefulShutdown()
                lifecycle.markStopping()
                await intake.stop()
                group.cancelAll()
            }
        } catch {
            // Stopping while starting is not a failure: the consumer ends its waiters with `stopped`.
            if error is CancellationError || (error as? RuntimeError)?.code == .stopped || lifecycle.phase == .stopping {
                return
            }
            logger.error("start-up failed: \(error)")
            lifecycle.markFailed("\(error)")
            throw error
        }
    }
}
