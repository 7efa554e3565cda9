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
    /// Inclusion, when the caller asked to wait for it.
    public var receipt: PublishReceipt?
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

    private var accepted: [(id: Int, events: [Event])] = []
    private var nextAcceptedID = 0
    /// Results kept for callers that wait for inclusion, by accepted id (lookup only).
    private var outcomes: [Int: Result<PublishReceipt, RuntimeError>] = [:]
    private var waiters: [Int: CheckedContinuation<Result<PublishReceipt, RuntimeError>, Never>] = [:]  // lookup only
    private var awaited = Set<Int>()
    private var stopped = false
    private nonisolated let tracked: AsyncStream<Tracked>
    private nonisolated let trackedInput: AsyncStream<Tracked>.Continuation

    /// An accepted submission whose inclusion the service follows.
    struct Tracked: Sendable {
        var id: Int
        var ticket: PublishTicket
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
        guard !stopped else {
            // Stopped while this submission was checked and made durable: the outbox keeps it for the
            // next start, and nobody follows it in this one.
            guard !waitForInclusion else {
                throw SubmissionError(.unavailable, "accepted (durable in the outbox) but not yet included: the coordinator is stopping")
            }
            return Acceptance(ids: ids, receipt: nil)
        }
        nextAcceptedID += 1
        let id = nextAcceptedID
        accepted.append((id, events))
        if waitForInclusion { awaited.insert(id) }
        // One ticket per event: the last one's blob is the last to land.
        trackedInput.yield(Tracked(id: id, ticket: tickets[tickets.count - 1], started: .now))
        guard waitForInclusion else { return Acceptance(ids: ids, receipt: nil) }
        // A caller that waits is not made to wait for the batch interval too.
        await publisher.flush()
        switch await outcome(of: id) {
        case let .success(receipt):
            return Acceptance(ids: ids, receipt: receipt)
        case let .failure(error):
            throw SubmissionError(
                .unavailable, "accepted (durable in the outbox) but not yet included: \(error.message)", cause: error)
        }
    }

    private func outcome(of id: Int) async -> Result<PublishReceipt, RuntimeError> {
        if let result = outcomes.removeValue(forKey: id) { return result }
        return await withCheckedContinuation { waiters[id] = $0 }
    }

    /// Follows one accepted submission until its last blob is included and applied.
    func follow(_ item: Tracked) async {
        let result: Result<PublishReceipt, RuntimeError>
        do throws(RuntimeError) {
            let receipt = try await item.ticket.inclusion()
            try? await consumer.waitUntilApplied(receipt.reference.height)
            result = .success(receipt)
        } catch {
            result = .failure(error)
        }
        if case .success = result { metrics.publishLatency.record(duration: ContinuousClock.now - item.started) }
        finish(item.id, result)
    }

    private func finish(_ id: Int, _ result: Result<PublishReceipt, RuntimeError>) {
        accepted.removeAll { $0.id == id }
        guard awaited.remove(id) != nil else { return }
        if let waiter = waiters.removeValue(forKey: id) {
            waiter.resume(returning: result)
        } else {
            outcomes[id] = result
        }
    }

    /// Refuses new submissions and answers every caller still waiting for inclusion. Idempotent.
    func stop() {
        guard !stopped else { return }
        stopped = true
        trackedInput.finish()
        let stopping = RuntimeError(.stopped, "the coordinator is stopping; the events stay in the outbox for the next start")
        for id in awaited.sorted() { finish(id, .failure(stopping)) }
    }

    // MARK: - Recovery of refused own blobs

    /// One of this coordinator's blobs was refused as a whole because one event became invalid between
    /// acceptance and landing (another writer changed the state). The refused event is dropped, with a
    /// log line naming it; every other event of the blob is checked again and published again, so an
    /// acknowledged event is lost only if it is itself invalid where it lands.
    func recover(_ rejection: BlobRejection) async {
        guard rejection.publisherID == configuration.publisherID, let sequence = rejection.sequence else { return }
        recoveryCounters.blobsRefused += 1
        guard let events = await publisher.events(ofSequence: sequence) else {
            logger.error(
                "own blob refused and its events are no longer known",
                metadata: ["sequence": "\(sequence)", "reason": "\(rejection.message)"])
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
            logger.warning(
                "dropped an accepted event that became invalid",
                metadata: ["event": "\(event.type)", "sequence": "\(sequence)", "reason": "\(why)"])
        }
        guard !remaining.isEmpty else { return }
        do {
            _ = try await publisher.enqueue(remaining)
            recoveryCounters.eventsRepublished += UInt64(remaining.count)
            logger.notice(
                "republished the valid events of a refused blob",
                metadata: ["sequence": "\(sequence)", "events": "\(remaining.count)"])
        } catch {
            logger.error("could not republish the events of refused blob \(sequence): \(error)")
        }
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
