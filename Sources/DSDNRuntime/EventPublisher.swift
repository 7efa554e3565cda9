import DSDNCore
import DSDNDA
import Logging
import Synchronization

/// Where a published event landed.
public struct PublishReceipt: Hashable, Sendable {
    /// The blob that carries the event.
    public var reference: BlobReference
    /// The blob's (publisher, sequence) identity.
    public var sequence: UInt64
}

/// An enqueued event; await ``PublishTicket/inclusion()`` for the DA inclusion of its blob.
public struct PublishTicket: Sendable {
    /// The event's publisher-local id (its id in the journal, when there is one).
    public let id: UInt64
    let publisher: EventPublisher

    /// Waits until the event's blob is on the DA and returns where. Throws the ``RuntimeError`` that made
    /// publishing fail (`unpublishable`, `daUnavailable`, `daFailure`, `stopped`).
    public func inclusion() async throws(RuntimeError) -> PublishReceipt {
        try await publisher.awaitTicket(id)
    }
}

/// Batches events into blobs and posts them to the DA, one blob at a time.
///
/// **Acknowledgement.** Two ways, both durable:
/// - ``publish(_:)`` returns only when the event's blob is included on the DA.
/// - With a ``PublisherJournal`` (the service's durable outbox), ``enqueue(_:)`` returns only after the
///   events were made durable in the journal, so an enqueued event survives `kill -9`: after a restart
///   ``restore(_:appliedSequence:)`` resubmits what was not applied. Without a journal an event that was
///   only enqueued is lost if the process dies before its blob is included.
///
/// Await each ticket at most once: its result is handed to the first waiter and then forgotten.
///
/// **Backpressure.** At most `maxBacklog` events may be accepted and not yet included; beyond that
/// ``enqueue(_:)`` throws `backpressure` and accepts nothing.
///
/// **Batching.** Events are posted when `batchSize` are pending (a batch size of 0 means 1), on
/// ``flush()``, on each `flushInterval` tick of the background loop (``run()``), and on ``stop()``.
/// Without a running loop a full batch is posted by whoever awaits one of its tickets.
///
/// **Tasks.** The publisher starts none. ``run()`` is its background loop, run by the caller (a
/// ServiceLifecycle service or a task group); every drain (``flush()``, ``stop()``, the loop, a ticket
/// waiting for a full batch) runs in the task that asked for it, one at a time in arrival order (an async
/// lock: a FIFO of continuations). ``waitUntilDrained()`` suspends until nothing is outstanding. A batch whose encoded blob exceeds `maxBlobBytes` is split in half, recursively, and the
/// halves are posted in order; a single event that alone exceeds the cap is refused at ``enqueue(_:)``.
///
/// **Identity and order.** Every blob gets the next sequence of this publisher id (strictly increasing,
/// starting after `lastSequence`). Blobs are submitted serially, each only after the previous one is
/// included, so blob N+1 can never land before blob N (docs/events.md §7).
///
/// **Retries and ambiguous submits.** The publisher is the one owner of recovering a submit whose
/// outcome is unknown (backends submit once and classify). A retryable DA error is retried with
/// backoff, resubmitting the *same bytes* under the *same sequence*. After an ambiguous failure
/// (`unavailable` from `submit`: the blob may have landed, or may still land from a mempool) the
/// publisher never resubmits while that attempt is undecided: it waits for a height above the head seen
/// after the failure (at most `landingTimeout`; 0 for backends whose submit is decided when it returns,
/// such as the memory and file backends), then scans every height since the first attempt's head for a
/// blob of its namespace with the blob's commitment (the DA's own ``DALayer/commitmentScheme``), and
/// takes that inclusion. Only a complete scan that does not find it allows a resubmission; a scan that
/// cannot complete counts as a failed attempt. A resubmitted copy that lands twice anyway is harmless:
/// it carries the same (publisher, sequence), so the state machine counts it as a duplicate.
public actor EventPublisher {
    /// Tuning.
    public struct Options: Sendable {
        /// Events per blob that trigger a post (0 means 1).
        public var batchSize: Int
        /// The background loop's flush interval.
        public var flushInterval: Duration
        /// The largest encoded blob posted, in bytes.
        public var maxBlobBytes: Int
        /// Submit attempts per blob before its events fail with `daUnavailable`; `nil` retries forever.
        public var maxAttempts: Int?
        /// Backoff between attempts.
        public var backoff: Backoff
        /// How the publisher waits (backoff and flush interval).
        public var sleeper: Sleeper
        /// After an ambiguous submit failure, how long to wait for a new height before scanning for the
        /// blob (a transaction still in a mempool can land in the next block). Zero for backends whose
        /// submit is decided when the call returns (memory, file log); Celestia needs about a block time
        /// or more.
        public var landingTimeout: Duration
        /// Events accepted and not yet included beyond which ``enqueue(_:)`` refuses (`backpressure`).
        public var maxBacklog: Int

        /// Creates options. Defaults: 100 events, 5 s, 2 MiB, retry forever, 1 s → 60 s backoff on the
        /// continuous clock, no landing wait, 10,000 events of backlog.
        public init(
            batchSize: Int = 100,
            flushInterval: Duration = .seconds(5),
            maxBlobBytes: Int = 2 * 1024 * 1024,
            maxAttempts: Int? = nil,
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            landingTimeout: Duration = .zero,
            maxBacklog: Int = 10_000
        ) {
            self.batchSize = max(1, batchSize)
            self.flushInterval = flushInterval
            self.maxBlobBytes = maxBlobBytes
            self.maxAttempts = maxAttempts.map { max(1, $0) }
            self.backoff = backoff
            self.sleeper = sleeper
            self.landingTimeout = landingTimeout
            self.maxBacklog = max(1, maxBacklog)
        }
    }

    /// Operational counters.
    public struct Counters: Hashable, Sendable {
        /// Events accepted by ``enqueue(_:)``.
        public var eventsEnqueued: UInt64 = 0
        /// Events whose blob was included.
        public var eventsPublished: UInt64 = 0
        /// Events whose publishing failed.
        public var eventsFailed: UInt64 = 0
        /// Blobs included (by a submit or found by the inclusion check).
        public var blobsPublished: UInt64 = 0
        /// Submit calls made.
        public var submitAttempts: UInt64 = 0
        /// Submits that failed with a retryable error.
        public var submitFailures: UInt64 = 0
        /// Blobs found on the DA by the inclusion check after an ambiguous failure (not resubmitted).
        public var landedDespiteFailure: UInt64 = 0
        /// Blobs resubmitted after an ambiguous failure the check found had not landed.
        public var resubmissions: UInt64 = 0
        /// Heights read by inclusion checks.
        public var heightsChecked: UInt64 = 0
        /// Inclusion checks that could not complete (the blob was then not resubmitted yet).
        public var undecidedChecks: UInt64 = 0
        /// Batches split because their blob exceeded the size cap.
        public var splits: UInt64 = 0
        /// Enqueue calls refused because the backlog was full.
        public var backpressureRefusals: UInt64 = 0
        /// Sealed blobs resubmitted after a restart (from the journal).
        public var restoredBlobs: UInt64 = 0
        /// Events restored from the journal after a restart.
        public var restoredEvents: UInt64 = 0
        /// Journal writes that failed (each refused acceptance or postponed seal).
        public var journalFailures: UInt64 = 0
    }

    /// The DA posted to.
    public nonisolated let da: any DALayer
    /// The namespace posted to.
    public nonisolated let namespace: DANamespace
    /// This publisher's id in every envelope.
    public nonisolated let publisherID: String
    /// Tuning.
    public nonisolated let options: Options

    /// The last sequence used (the next blob gets `lastSequence + 1`).
    public private(set) var lastSequence: UInt64
    /// Operational counters.
    public private(set) var counters = Counters()

    /// The durable journal, if any.
    public nonisolated let journal: (any PublisherJournal)?

    private var pending: [(id: UInt64, event: Event)] = []
    private var resealed: [SealedBatch] = []
    private var outstanding = 0
    private var detached = Set<UInt64>()
    /// The last journal write's failure (a full disk, an I/O error); `nil` once a later write succeeded.
    /// Nothing is accepted while the journal cannot record it, and nothing is sealed: the events stay
    /// pending, in order, and the next drain tries again.
    public private(set) var journalFailure: RuntimeError?
    /// Why the last submit attempt failed, while the blob is being retried; `nil` once a submit landed.
    /// A DA that refuses or times out every submit shows here (and on `/health`) instead of silently
    /// growing the backlog.
    public private(set) var submitTrouble: RuntimeError?
    /// A seal failed in the current drain: later batches of that drain wait in `deferred`, in order.
    private var sealBlocked = false
    private var deferred: [(id: UInt64, event: Event)] = []
    /// Where journal failures and recoveries are logged.
    private let logger: Logger?
    /// Set when a blob failed for a reason retrying cannot fix while a journal is in use: publishing stops
    /// so that no later sequence lands before it (which would make a restart skip it); the blob and
    /// everything after it stay in the journal for the next start.
    public private(set) var halted: RuntimeError?
    /// The events of the most recently included blobs, by sequence (at most `recentBlobLimit`).
    private var recentBlobs: [UInt64: (ids: [UInt64], events: [Event])] = [:]  // lookup only
    private var recentOrder: [UInt64] = []
    private static let recentBlobLimit = 4_096
    private var nextTicket: UInt64 = 0
    private var results: [UInt64: Result<PublishReceipt, RuntimeError>] = [:]
    /// Callers waiting for a ticket, behind a mutex so a cancelled waiter leaves at once (lookup only).
    private let ticketWaiters = Mutex<TicketWaiters>(TicketWaiters())
    private var stopped = false
    /// The height of the newest blob this publisher saw included (0: none yet).
    private var lastLandedHeight: UInt64 = 0
    /// One drain at a time, in arrival order.
    private let drainLock = AsyncLock()
    /// Wakes the background loop (``run()``) when one runs.
    private var wake: AsyncStream<Void>.Continuation?
    private var loopRunning = false
    /// Callers of ``waitUntilDrained()``, resumable from a cancellation handler.
    private nonisolated let drainWaiters = DrainWaiters()
    /// Callers of ``stop()`` waiting for the background loop's final flush.
    private nonisolated let loopWaiters = DrainWaiters()

    /// A forced flush was asked for (a tick, a restore) since the loop last drained.
    private var flushRequested = false

    /// Creates a publisher. `lastSequence` is the highest sequence this publisher id ever used (read it
    /// from the derived state's cursor after a restart: `state.cursor.publisherSequences[id]`), so new
    /// blobs are never mistaken for duplicates.
    public init(
        da: any DALayer,
        namespace: DANamespace,
        publisherID: String,
        lastSequence: UInt64 = 0,
        options: Options = Options(),
        journal: (any PublisherJournal)? = nil,
        logger: Logger? = nil
    ) throws(RuntimeError) {
        do {
            try Validation.identifier(publisherID, field: "publisher_id")
        } catch {
            throw RuntimeError(.unpublishable, "invalid publisher id: \(error.message)", cause: error)
        }
        self.da = da
        self.namespace = namespace
        self.publisherID = publisherID
        self.lastSequence = lastSequence
        self.options = options
        self.journal = journal
        self.logger = logger
    }

    /// Events waiting to be posted (not yet in a blob), including restored sealed blobs' events.
    public var pendingCount: Int { pending.count + resealed.reduce(0) { $0 + $1.events.count } }

    /// Events accepted and not yet included or failed.
    public var backlog: Int { outstanding }

    /// Whether the background loop (``run()``) runs.
    public var isRunning: Bool { loopRunning }

    // MARK: - Publishing

    /// Publishes `event` and returns when its blob is included on the DA (see the type's documentation).
    @discardableResult
    public func publish(_ event: Event) async throws(RuntimeError) -> PublishReceipt {
        let ticket = try enqueue(event)
        return try await awaitTicket(ticket.id)
    }

    /// Queues `event` for the next blob and returns at once (see ``enqueue(_:)-([Event])``).
    public func enqueue(_ event: Event) throws(RuntimeError) -> PublishTicket {
        // One event in, one ticket out.
        try enqueue([event])[0]
    }

    /// Queues `events`, in order, for the next blobs and returns at once, all or nothing. With a journal
    /// they are durable when this returns. Posts a batch when `batchSize` events are pending. Throws
    /// `unpublishable` when an event cannot be encoded or alone exceeds the blob-size cap, `backpressure`
    /// when the backlog is full, `journalFailure` when the journal cannot record, and `stopped` after
    /// ``stop()``.
    public func enqueue(_ events: [Event]) throws(RuntimeError) -> [PublishTicket] {
        guard !stopped else { throw RuntimeError(.stopped, "the publisher is stopped") }
        if let halted { throw RuntimeError(.daFailure, "publishing is halted until a restart: \(halted.message)") }
        for (position, event) in events.enumerated() {
            let size: Int
            do {
                size = try BlobCodec.encode(BlobEnvelope(publisherID: publisherID, sequence: UInt64.max, events: [event])).count
            } catch {
                throw RuntimeError(.unpublishable, "event \(position) cannot be encoded: \(error)", cause: error)
            }
            guard size <= options.maxBlobBytes else {
                throw RuntimeError(.unpublishable, "event \(position) needs a \(size)-byte blob, over the \(options.maxBlobBytes)-byte cap")
            }
        }
        guard outstanding + events.count <= options.maxBacklog else {
            counters.backpressureRefusals += 1
            throw RuntimeError(
                .backpressure,
                "the publish backlog is full (\(outstanding) of \(options.maxBacklog) events waiting for the DA); retry later")
        }
        let records = events.enumerated().map { JournaledEvent(id: nextTicket + 1 + UInt64($0.offset), event: $0.element) }
        if let journal {
            do throws(RuntimeError) {
                try journal.recordAccepted(records)
                journalRecovered()
            } catch {
                let failure = RuntimeError(.journalFailure, "the outbox cannot record events: \(error.message)", cause: error)
                journalFailed(failure)
                throw failure
            }
        }
        nextTicket += UInt64(events.count)
        pending.append(contentsOf: records.map { ($0.id, $0.event) })
        outstanding += events.count
        counters.eventsEnqueued += UInt64(events.count)
        if pending.count >= options.batchSize { wake?.yield() }
        return records.map { PublishTicket(id: $0.id, publisher: self) }
    }

    /// Takes back what a journal held after a restart: sealed blobs whose sequence is at most
    /// `appliedSequence` (this publisher's highest sequence in the rebuilt state) are done; later ones are
    /// resubmitted first, with their sequence; unsealed events follow in new blobs. Call once, before
    /// enqueuing anything new. Nobody awaits restored events: their results are only counted.
    public func restore(_ backlog: JournalBacklog, appliedSequence: UInt64) {
        lastSequence = max(lastSequence, appliedSequence)
        nextTicket = max(nextTicket, backlog.lastEventID)
        for batch in backlog.sealed {
            if batch.sequence <= appliedSequence {
                try? journal?.recordIncluded(sequence: batch.sequence)
                continue
            }
            lastSequence = max(lastSequence, batch.sequence)
            resealed.append(batch)
            outstanding += batch.events.count
            counters.restoredEvents += UInt64(batch.events.count)
            for event in batch.events { detached.insert(event.id) }
        }
        for event in backlog.unsealed {
            pending.append((event.id, event.event))
            detached.insert(event.id)
            outstanding += 1
            counters.restoredEvents += 1
        }
        if !resealed.isEmpty || !pending.isEmpty { requestFlush() }
    }

    /// Posts every pending event now (in blobs of at most `batchSize` events), in the calling task, after
    /// any drain already running, and returns when every blob it posted was included or failed. Posts
    /// nothing when nothing is pending.
    public func flush() async {
        await drainLock.acquire()
        await drain(force: true)
        drainLock.release()
    }

    /// The publisher's background loop: posts as soon as `batchSize` events are pending, flushes every
    /// `flushInterval`, and takes up restored events; woken through a stream, never by polling. Run it as
    /// a service or in a task group. It returns after ``stop()`` or when its task is cancelled, with a
    /// final flush. A second concurrent call returns at once.
    public func run() async {
        guard !loopRunning, !stopped else { return }
        loopRunning = true
        // Wake-ups coalesce (a slow loop sees one); what to do is in the actor's state.
        let (wakes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake = continuation
        if !resealed.isEmpty || !pending.isEmpty { requestFlush() }
        let (interval, sleeper) = (options.flushInterval, options.sleeper)
        await withTaskGroup(of: Void.self) { group in
            // The flush interval's ticker: a child task, cancelled when the loop ends.
            group.addTask(operation: {
                while true {
                    do { try await sleeper.sleep(for: interval) } catch { return }
                    await self.requestFlush()
                }
            })
            for await _ in wakes {
                if stopped { break }
                let force = flushRequested
                flushRequested = false
                await drainLock.acquire()
                await drain(force: force)
                drainLock.release()
            }
            group.cancelAll()
        }
        continuation.finish()
        self.wake = nil
        await flush()
        loopRunning = false
        loopWaiters.resumeAll()
    }

    private func requestFlush() {
        flushRequested = true
        wake?.yield()
    }

    /// Suspends until no accepted event is outstanding (every one included or failed). Throws
    /// `CancellationError` when the waiting task is cancelled. Drains nothing itself: something must
    /// post (``run()``, ``flush()``).
    public func waitUntilDrained() async throws {
        if outstanding == 0 { return }
        try await suspend(on: drainWaiters)
    }

    private func suspend(on waiters: DrainWaiters) async throws {
        try Task.checkCancellation()
        let key = waiters.expect()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.add(key, continuation)
            }
        } onCancel: {
            waiters.cancel(key)
        }
    }

    /// Stops: refuses new events, posts everything pending (final flush) and waits for it: the
    /// background loop's final flush when ``run()`` runs, else a flush in the calling task. Idempotent.
    /// Cancelling the calling task ends the wait for the loop at once (bound it that way).
    public func stop() async {
        stopped = true
        if loopRunning {
            wake?.yield()
            try? await suspend(on: loopWaiters)
        } else {
            await flush()
        }
    }

    // MARK: - Tickets

    func awaitTicket(_ id: UInt64) async throws(RuntimeError) -> PublishReceipt {
        if let result = results.removeValue(forKey: id) { return try result.get() }
        if pending.count >= options.batchSize || !resealed.isEmpty {
            // A full batch and no loop has taken it yet: post it in this task.
            await drainLock.acquire()
            await drain(force: false)
            drainLock.release()
            if let result = results.removeValue(forKey: id) { return try result.get() }
        }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let cancelled = ticketWaiters.withLock { registry -> Bool in
                        if Task.isCancelled { return true }
                        registry.waiting[id] = continuation
                        return false
                    }
                    if cancelled { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                ticketWaiters.withLock { registry in
                    // Nobody will ask for this ticket again: its result, when it comes, is dropped.
                    registry.abandoned.insert(id)
                    return registry.waiting.removeValue(forKey: id)
                }?.resume(throwing: CancellationError())
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.stopped, "waiting for inclusion was interrupted: \(error)", cause: error)
        }
    }

    private func resolve(_ ids: [UInt64], _ result: Result<PublishReceipt, RuntimeError>) {
        outstanding -= ids.count
        if outstanding == 0 { drainWaiters.resumeAll() }
        for id in ids {
            if detached.remove(id) != nil { continue }
            let (waiter, abandoned) = ticketWaiters.withLock { registry in
                (registry.waiting.removeValue(forKey: id), registry.abandoned.remove(id) != nil)
            }
            if let waiter {
                waiter.resume(with: result.mapError { $0 as any Error })
            } else if !abandoned {
                results[id] = result
            }
        }
        switch result {
        case .success: counters.eventsPublished += UInt64(ids.count)
        case .failure: counters.eventsFailed += UInt64(ids.count)
        }
    }

    // MARK: - Draining (serial)

    private func drain(force: Bool) async {
        guard halted == nil else { return }
        while !resealed.isEmpty, halted == nil {
            let batch = resealed.removeFirst()
            await postSealed(batch)
        }
        while halted == nil, !sealBlocked, pending.count >= options.batchSize || (force && !pending.isEmpty) {
            let take = min(options.batchSize, pending.count)
            let batch = Array(pending.prefix(take))
            pending.removeFirst(take)
            await post(batch)
        }
        // What a failed seal held back goes first again, in order; the next drain (a tick) retries.
        if !deferred.isEmpty {
            pending.insert(contentsOf: deferred, at: 0)
            deferred = []
        }
        sealBlocked = false
    }

    private func journalFailed(_ failure: RuntimeError) {
        if journalFailure == nil {
            logger?.error("the outbox cannot record: nothing is accepted or sealed until it can", metadata: ["error": "\(failure.message)"])
        }
        journalFailure = failure
        counters.journalFailures += 1
    }

    private func journalRecovered() {
        guard let failure = journalFailure else { return }
        journalFailure = nil
        logger?.notice("the outbox records again", metadata: ["after": "\(failure.message)"])
    }

    /// Encodes `batch`, splitting in half while the blob exceeds the cap, and submits the parts in order.
    private func post(_ batch: [(id: UInt64, event: Event)]) async {
        guard !sealBlocked else {
            deferred.append(contentsOf: batch)
            return
        }
        let encoded: [UInt8]
        do {
            encoded = try BlobCodec.encode(
                BlobEnvelope(publisherID: publisherID, sequence: lastSequence + 1, events: batch.map(\.event)))
        } catch {
            if batch.count > 1 {
                await split(batch)
            } else {
                resolve(batch.map(\.id), .failure(RuntimeError(.unpublishable, "event cannot be encoded: \(error)", cause: error)))
            }
            return
        }
        if encoded.count > options.maxBlobBytes {
            if batch.count > 1 {
                await split(batch)
            } else {
                resolve(
                    batch.map(\.id),
                    .failure(
                        RuntimeError(
                            .unpublishable, "event needs a \(encoded.count)-byte blob, over the \(options.maxBlobBytes)-byte cap")))
            }
            return
        }
        lastSequence += 1
        let sequence = lastSequence
        let ids = batch.map(\.id)
        if let journal {
            do throws(RuntimeError) {
                try journal.recordSealed(sequence: sequence, ids: ids)
                journalRecovered()
            } catch {
                // Not sealed, so not posted: the sequence is free again and the events wait, in order,
                // for the next drain.
                lastSequence -= 1
                sealBlocked = true
                deferred.append(contentsOf: batch)
                journalFailed(
                    RuntimeError(
                        .journalFailure, "the outbox cannot record blob \(publisherID)#\(sequence): \(error.message)", cause: error))
                return
            }
        }
        await submitSealed(encoded, events: batch.map(\.event), sequence: sequence, ids: ids)
    }

    /// Resubmits a blob sealed before a restart: same sequence, same events, so the same bytes.
    private func postSealed(_ batch: SealedBatch) async {
        let ids = batch.events.map(\.id)
        do {
            let encoded = try BlobCodec.encode(
                BlobEnvelope(publisherID: publisherID, sequence: batch.sequence, events: batch.events.map(\.event)))
            counters.restoredBlobs += 1
            await submitSealed(encoded, events: batch.events.map(\.event), sequence: batch.sequence, ids: ids)
        } catch {
            resolve(
                ids, .failure(RuntimeError(.unpublishable, "restored blob #\(batch.sequence) cannot be encoded: \(error)", cause: error)))
        }
    }

    /// The events of a blob this publisher sealed recently (the last 4,096), e.g. to recover the
    /// valid events of a blob the state machine refused.
    public func events(ofSequence sequence: UInt64) -> [Event]? { recentBlobs[sequence]?.events }

    /// The ticket ids of that blob's events, in blob order (ids of restored blobs are the outbox's).
    public func ids(ofSequence sequence: UInt64) -> [UInt64]? { recentBlobs[sequence]?.ids }

    private func remember(_ sequence: UInt64, _ ids: [UInt64], _ events: [Event]) {
        recentBlobs[sequence] = (ids, events)
        recentOrder.append(sequence)
        if recentOrder.count > Self.recentBlobLimit { recentBlobs[recentOrder.removeFirst()] = nil }
    }

    private func submitSealed(_ encoded: [UInt8], events: [Event], sequence: UInt64, ids: [UInt64]) async {
        // Remembered before submitting: the consumer may apply (and refuse) the blob before the submit returns.
        remember(sequence, ids, events)
        switch await submit(encoded, sequence: sequence) {
        case let .success(reference):
            counters.blobsPublished += 1
            try? journal?.recordIncluded(sequence: sequence)
            resolve(ids, .success(PublishReceipt(reference: reference, sequence: sequence)))
        case let .failure(error):
            if journal != nil, error.code != .stopped { halted = error }
            resolve(ids, .failure(error))
        }
    }

    private func split(_ batch: [(id: UInt64, event: Event)]) async {
        counters.splits += 1
        let middle = batch.count / 2
        await post(Array(batch[..<middle]))
        await post(Array(batch[middle...]))
    }

    /// Submits one blob with retries. After an ambiguous failure the blob is never resubmitted before an
    /// inclusion check decided that it is not on the DA (see the type's documentation).
    private func submit(_ blob: [UInt8], sequence: UInt64) async -> Result<BlobReference, RuntimeError> {
        let commitment = da.commitmentScheme.commitment(of: blob, in: namespace)
        // Heights above `scannedThrough` may hold an earlier attempt of this blob: the head before the
        // first attempt, or, when it cannot be read, the height before the previous blob's (this blob is
        // submitted after that one was included, so it cannot land below it).
        var scannedThrough: UInt64 = (try? await da.head()) ?? (lastLandedHeight > 0 ? lastLandedHeight - 1 : 0)
        // Set after an ambiguous failure, until a check decides it: the head read right after it.
        var undecided: UndecidedSubmit?
        var attempt = 0
        while true {
            if var earlier = undecided {
                let outcome = await check(&earlier, commitment: commitment, scannedThrough: &scannedThrough)
                undecided = earlier
                switch outcome {
                case let .landed(reference):
                    counters.landedDespiteFailure += 1
                    lastLandedHeight = max(lastLandedHeight, reference.height)
                    submitTrouble = nil
                    return .success(reference)
                case .absent:
                    undecided = nil
                    counters.resubmissions += 1
                case let .unknown(reason):
                    // Never resubmit while the earlier attempt may still be on its way: back off, check again.
                    counters.undecidedChecks += 1
                    attempt += 1
                    if let failure = await backOffOrGiveUp(attempt: attempt, sequence: sequence, message: reason) {
                        return .failure(failure)
                    }
                    continue
                }
            }
            attempt += 1
            counters.submitAttempts += 1
            do {
                let reference = try await da.submit(blob, to: namespace)
                lastLandedHeight = max(lastLandedHeight, reference.height)
                submitTrouble = nil
                return .success(reference)
            } catch {
                guard error.isRetryable else {
                    let code: RuntimeError.Code = error.code == .blobTooLarge ? .unpublishable : .daFailure
                    return .failure(RuntimeError(code, "DA refused blob \(publisherID)#\(sequence): \(error)", cause: error))
                }
                counters.submitFailures += 1
                if submitTrouble == nil {
                    logger?.warning("the DA refuses submits; retrying with backoff", metadata: ["error": "\(error.message)"])
                }
                submitTrouble = RuntimeError(.daUnavailable, "submits fail: \(error.message)", cause: error)
                if error.code == .unavailable {
                    undecided = UndecidedSubmit(failedAtHead: try? await da.head())
                }
                if let maxAttempts = options.maxAttempts, attempt >= maxAttempts, var earlier = undecided {
                    // One last look: the blob may have landed on the ambiguous failure.
                    if case let .landed(reference) = await check(&earlier, commitment: commitment, scannedThrough: &scannedThrough) {
                        counters.landedDespiteFailure += 1
                        return .success(reference)
                    }
                }
                if let failure = await backOffOrGiveUp(attempt: attempt, sequence: sequence, message: error.message) {
                    return .failure(failure)
                }
            }
        }
    }

    /// After `attempt` failed attempts: `daUnavailable` when they are used up, `stopped` when cancelled
    /// during the backoff, `nil` to try again.
    private func backOffOrGiveUp(attempt: Int, sequence: UInt64, message: String) async -> RuntimeError? {
        if let maxAttempts = options.maxAttempts, attempt >= maxAttempts {
            return RuntimeError(
                .daUnavailable, "blob \(publisherID)#\(sequence) not included after \(attempt) attempts: \(message)")
        }
        do {
            try await options.sleeper.sleep(for: options.backoff.delay(attempt: attempt))
            return nil
        } catch {
            return RuntimeError(.stopped, "cancelled while retrying blob \(publisherID)#\(sequence)")
        }
    }

    /// An ambiguous submit attempt not decided yet.
    private struct UndecidedSubmit {
        /// The head read right after the failure (`nil` when that read failed too).
        var failedAtHead: UInt64?
    }

    private enum Check {
        /// The blob is on the DA here.
        case landed(BlobReference)
        /// It is not on the DA up to the head, after a block past the failure: resubmit.
        case absent
        /// The check could not complete: do not resubmit yet.
        case unknown(String)
    }

    /// Decides an ambiguous attempt: waits (up to `landingTimeout`) for a height above the head seen
    /// after the failure, so a transaction still in a mempool can land, then scans the heights after
    /// `scannedThrough` up to the head for a blob with `commitment` in this namespace. Advances
    /// `scannedThrough` past every height it read.
    private func check(_ earlier: inout UndecidedSubmit, commitment: [UInt8]?, scannedThrough: inout UInt64) async -> Check {
        guard let commitment else { return .absent }  // a backend that cannot recompute commitments: dedupe decides
        var head: UInt64
        do {
            head = try await da.head()
        } catch {
            return .unknown("cannot read the head to check for an earlier attempt: \(error.message)")
        }
        // When the head could not be read right after the failure, the first head read since stands in
        // for it (pinned, so the block waited for does not move on).
        let failedAt = earlier.failedAtHead ?? head
        earlier.failedAtHead = failedAt
        if options.landingTimeout > .zero, head <= failedAt {
            guard let reached = await waitForHeight(above: failedAt) else {
                return .unknown("no height above \(failedAt) within \(options.landingTimeout) to check for an earlier attempt")
            }
            head = max(head, reached)
        }
        var height = scannedThrough + 1
        while height <= head {
            let blobs: [DABlob]
            do {
                blobs = try await da.blobs(of: namespace, at: height)
            } catch {
                if error.code == .pruned {
                    blobs = []  // older than the DA keeps: nothing can be checked there any more
                } else {
                    return .unknown("cannot read height \(height) to check for an earlier attempt: \(error.message)")
                }
            }
            counters.heightsChecked += 1
            if let match = blobs.first(where: { $0.reference.commitment == commitment }) {
                return .landed(match.reference)
            }
            scannedThrough = height
            height += 1
        }
        return .absent
    }

    /// Whether height `height + 1` exists within `landingTimeout`: a read of it, which the DA answers
    /// when the height is produced (Celestia waits for the header) or refuses as from the future. The
    /// timeout is a deadline on the DA's block production, so it runs on the continuous clock, not the
    /// injected backoff sleeper (which tests make instant); the read and the deadline race in a task group.
    private func waitForHeight(above height: UInt64) async -> UInt64? {
        let (timeout, da, namespace) = (options.landingTimeout, self.da, self.namespace)
        return await withTaskGroup(of: UInt64?.self) { group in
            group.addTask(operation: {
                (try? await da.blobs(of: namespace, at: height + 1)) != nil ? height + 1 : nil
            })
            group.addTask(operation: {
                try? await Sleeper.continuous.sleep(for: timeout)
                return nil
            })
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// Callers of ``EventPublisher/waitUntilDrained()`` behind a `Mutex`, so a cancellation handler removes
/// (and resumes) its waiter synchronously instead of spawning a task to reach the actor.
final class DrainWaiters: Sendable {
    private struct State {
        var nextKey = 0
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]  // lookup only
        var expected: Set<Int> = []
        var cancelledEarly: Set<Int> = []
    }

    private let state = Mutex(State())

    func expect() -> Int {
        state.withLock { state in
            state.nextKey += 1
            state.expected.insert(state.nextKey)
            return state.nextKey
        }
    }

    func add(_ key: Int, _ continuation: CheckedContinuation<Void, any Error>) {
        let cancelled = state.withLock { state in
            state.expected.remove(key)
            if state.cancelledEarly.remove(key) != nil { return true }
            state.waiters[key] = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
    }

    func cancel(_ key: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.waiters.removeValue(forKey: key) { return waiter }
            if state.expected.contains(key) { state.cancelledEarly.insert(key) }
            return nil
        }
        waiter?.resume(throwing: CancellationError())
    }

    func resumeAll() {
        let waiters = state.withLock { state in
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// The callers waiting for tickets, and the tickets whose waiter was cancelled.
struct TicketWaiters: ~Copyable {
    var waiting: [UInt64: CheckedContinuation<PublishReceipt, any Error>] = [:]  // lookup only
    var abandoned = Set<UInt64>()
}
