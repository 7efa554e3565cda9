import DSDNCore
import DSDNDA
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
/// ``flush()``, on each `flushInterval` tick of the background flusher (``startFlusher()``), and on
/// ``stop()``. A batch whose encoded blob exceeds `maxBlobBytes` is split in half, recursively, and the
/// halves are posted in order; a single event that alone exceeds the cap is refused at ``enqueue(_:)``.
///
/// **Identity and order.** Every blob gets the next sequence of this publisher id (strictly increasing,
/// starting after `lastSequence`). Blobs are submitted serially, each only after the previous one is
/// included, so blob N+1 can never land before blob N (docs/events.md §7).
///
/// **Retries.** A retryable DA error is retried with backoff, resubmitting the *same bytes* under the
/// *same sequence*. After an ambiguous failure (`unavailable` from `submit`: the blob may have landed)
/// the publisher first scans the heights produced since its first attempt for a blob of its namespace
/// with the same commitment, and takes that inclusion instead of resubmitting. The scan is an
/// optimisation, not a correctness requirement: a resubmitted copy carries the same (publisher,
/// sequence), so the state machine counts it as a duplicate and nothing is applied twice.
public actor EventPublisher {
    /// Tuning.
    public struct Options: Sendable {
        /// Events per blob that trigger a post (0 means 1).
        public var batchSize: Int
        /// The background flusher's interval.
        public var flushInterval: Duration
        /// The largest encoded blob posted, in bytes.
        public var maxBlobBytes: Int
        /// Submit attempts per blob before its events fail with `daUnavailable`; `nil` retries forever.
        public var maxAttempts: Int?
        /// Backoff between attempts.
        public var backoff: Backoff
        /// How the publisher waits (backoff and flush interval).
        public var sleeper: Sleeper
        /// How commitments are computed for the inclusion check after an ambiguous failure.
        public var commitment: CommitmentScheme
        /// Events accepted and not yet included beyond which ``enqueue(_:)`` refuses (`backpressure`).
        public var maxBacklog: Int

        /// Creates options. Defaults: 100 events, 5 s, 2 MiB, retry forever, 1 s → 60 s backoff on the
        /// continuous clock, SHA-256 commitments.
        public init(
            batchSize: Int = 100,
            flushInterval: Duration = .seconds(5),
            maxBlobBytes: Int = 2 * 1024 * 1024,
            maxAttempts: Int? = nil,
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            commitment: CommitmentScheme = .sha256,
            maxBacklog: Int = 10_000
        ) {
            self.batchSize = max(1, batchSize)
            self.flushInterval = flushInterval
            self.maxBlobBytes = maxBlobBytes
            self.maxAttempts = maxAttempts.map { max(1, $0) }
            self.backoff = backoff
            self.sleeper = sleeper
            self.commitment = commitment
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
        /// Blobs resubmitted after an ambiguous failure the check could not resolve.
        public var resubmissions: UInt64 = 0
        /// Batches split because their blob exceeded the size cap.
        public var splits: UInt64 = 0
        /// Enqueue calls refused because the backlog was full.
        public var backpressureRefusals: UInt64 = 0
        /// Sealed blobs resubmitted after a restart (from the journal).
        public var restoredBlobs: UInt64 = 0
        /// Events restored from the journal after a restart.
        public var restoredEvents: UInt64 = 0
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
    private var journalBroken: RuntimeError?
    /// Set when a blob failed for a reason retrying cannot fix while a journal is in use: publishing stops
    /// so that no later sequence lands before it (which would make a restart skip it); the blob and
    /// everything after it stay in the journal for the next start.
    public private(set) var halted: RuntimeError?
    /// The events of the most recently included blobs, by sequence (at most `recentBlobLimit`).
    private var recentBlobs: [UInt64: [Event]] = [:]  // lookup only
    private var recentOrder: [UInt64] = []
    private static let recentBlobLimit = 4_096
    private var nextTicket: UInt64 = 0
    private var results: [UInt64: Result<PublishReceipt, RuntimeError>] = [:]
    /// Callers waiting for a ticket; behind a mutex so a cancelled waiter leaves at once.
    private let waiters = Mutex<[UInt64: CheckedContinuation<PublishReceipt, any Error>]>([:])  // lookup only
    private var drainTail: Task<Void, Never>?
    private var flusher: Task<Void, Never>?
    private var stopped = false

    /// Creates a publisher. `lastSequence` is the highest sequence this publisher id ever used (read it
    /// from the derived state's cursor after a restart: `state.cursor.publisherSequences[id]`), so new
    /// blobs are never mistaken for duplicates.
    public init(
        da: any DALayer,
        namespace: DANamespace,
        publisherID: String,
        lastSequence: UInt64 = 0,
        options: Options = Options(),
        journal: (any PublisherJournal)? = nil
    ) throws(RuntimeError) {
        do {
            try Validation.identifier(publisherID, field: "publisher_id")
        } catch {
            throw RuntimeError(.unpublishable, "invalid publisher id: \(error.message)")
        }
        self.da = da
        self.namespace = namespace
        self.publisherID = publisherID
        self.lastSequence = lastSequence
        self.options = options
        self.journal = journal
    }

    /// Events waiting to be posted (not yet in a blob), including restored sealed blobs' events.
    public var pendingCount: Int { pending.count + resealed.reduce(0) { $0 + $1.events.count } }

    /// Events accepted and not yet included or failed.
    public var backlog: Int { outstanding }

    /// Whether the background flusher runs.
    public var isFlusherRunning: Bool { flusher != nil }

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
        if let journalBroken { throw journalBroken }
        if let halted { throw RuntimeError(.daFailure, "publishing is halted until a restart: \(halted.message)") }
        for (position, event) in events.enumerated() {
            let size: Int
            do {
                size = try BlobCodec.encode(BlobEnvelope(publisherID: publisherID, sequence: UInt64.max, events: [event])).count
            } catch {
                throw RuntimeError(.unpublishable, "event \(position) cannot be encoded: \(error)")
            }
            guard size <= options.maxBlobBytes else {
                throw RuntimeError(.unpublishable, "event \(position) needs a \(size)-byte blob, over the \(options.maxBlobBytes)-byte cap")
            }
        }
        guard outstanding + events.count <= options.maxBacklog else {
            counters.backpressureRefusals += 1
            throw RuntimeError(
                .backpressure, "the publish backlog is full (\(outstanding) of \(options.maxBacklog) events waiting for the DA); retry later")
        }
        let records = events.enumerated().map { JournaledEvent(id: nextTicket + 1 + UInt64($0.offset), event: $0.element) }
        if let journal {
            do throws(RuntimeError) {
                try journal.recordAccepted(records)
            } catch {
                journalBroken = RuntimeError(.journalFailure, "the outbox cannot record events: \(error.message)")
                throw RuntimeError(.journalFailure, "the outbox cannot record events: \(error.message)")
            }
        }
        nextTicket += UInt64(events.count)
        pending.append(contentsOf: records.map { ($0.id, $0.event) })
        outstanding += events.count
        counters.eventsEnqueued += UInt64(events.count)
        if pending.count >= options.batchSize { scheduleDrain(force: false) }
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
        if !resealed.isEmpty || !pending.isEmpty { scheduleDrain(force: true) }
    }

    /// Posts every pending event now (in blobs of at most `batchSize` events) and returns after every
    /// blob submitted so far was included or failed. Posts nothing when nothing is pending.
    public func flush() async {
        await scheduleDrain(force: true).value
    }

    /// Starts the background flusher, which flushes every `flushInterval`. Throws `alreadyStarted` when
    /// it already runs and `stopped` after ``stop()``.
    public func startFlusher() throws(RuntimeError) {
        guard !stopped else { throw RuntimeError(.stopped, "the publisher is stopped") }
        guard flusher == nil else { throw RuntimeError(.alreadyStarted, "the background flusher is already running") }
        let interval = options.flushInterval
        let sleeper = options.sleeper
        flusher = Task { [weak self] in
            while !Task.isCancelled {
                do { try await sleeper.sleep(for: interval) } catch { return }
                guard let self else { return }
                await self.flush()
            }
        }
    }

    /// Stops: ends the background flusher, refuses new events, posts everything pending (final flush)
    /// and waits for it. Idempotent.
    public func stop() async {
        stopped = true
        flusher?.cancel()
        flusher = nil
        await flush()
    }

    // MARK: - Tickets

    func awaitTicket(_ id: UInt64) async throws(RuntimeError) -> PublishReceipt {
        if let result = results.removeValue(forKey: id) { return try result.get() }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let cancelled = self.waiters.withLock { waiting -> Bool in
                        if Task.isCancelled { return true }
                        waiting[id] = continuation
                        return false
                    }
                    if cancelled { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                self.waiters.withLock { $0.removeValue(forKey: id) }?.resume(throwing: CancellationError())
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.stopped, "waiting for inclusion was interrupted: \(error)")
        }
    }

    private func resolve(_ ids: [UInt64], _ result: Result<PublishReceipt, RuntimeError>) {
        outstanding -= ids.count
        for id in ids {
            if detached.remove(id) != nil { continue }
            if let waiter = waiters.withLock({ $0.removeValue(forKey: id) }) {
                waiter.resume(with: result.mapError { $0 as any Error })
            } else {
                results[id] = result
            }
        }
        switch result {
        case .success: counters.eventsPublished += UInt64(ids.count)
        case .failure: counters.eventsFailed += UInt64(ids.count)
        }
    }

    // MARK: - Draining (serial)

    /// Chains a drain after the previous one, so only one drain (and one submit) runs at a time.
    @discardableResult
    private func scheduleDrain(force: Bool) -> Task<Void, Never> {
        let previous = drainTail
        let task = Task {
            await previous?.value
            await self.drain(force: force)
        }
        drainTail = task
        return task
    }

    private func drain(force: Bool) async {
        guard halted == nil else { return }
        while !resealed.isEmpty, halted == nil {
            let batch = resealed.removeFirst()
            await postSealed(batch)
        }
        while halted == nil, pending.count >= options.batchSize || (force && !pending.isEmpty) {
            let take = min(options.batchSize, pending.count)
            let batch = Array(pending.prefix(take))
            pending.removeFirst(take)
            await post(batch)
        }
    }

    /// Encodes `batch`, splitting in half while the blob exceeds the cap, and submits the parts in order.
    private func post(_ batch: [(id: UInt64, event: Event)]) async {
        let encoded: [UInt8]
        do {
            encoded = try BlobCodec.encode(
                BlobEnvelope(publisherID: publisherID, sequence: lastSequence + 1, events: batch.map(\.event)))
        } catch {
            if batch.count > 1 {
                await split(batch)
            } else {
                resolve(batch.map(\.id), .failure(RuntimeError(.unpublishable, "event cannot be encoded: \(error)")))
            }
            return
        }
        if encoded.count > options.maxBlobBytes {
            if batch.count > 1 {
                await split(batch)
            } else {
                resolve(batch.map(\.id), .failure(RuntimeError(
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
            } catch {
                let failure = RuntimeError(.journalFailure, "the outbox cannot record blob \(publisherID)#\(sequence): \(error.message)")
                journalBroken = failure
                resolve(ids, .failure(failure))
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
            resolve(ids, .failure(RuntimeError(.unpublishable, "restored blob #\(batch.sequence) cannot be encoded: \(error)")))
        }
    }

    /// The events of a blob this publisher sealed recently (the last 4,096), e.g. to recover the
    /// valid events of a blob the state machine refused.
    public func events(ofSequence sequence: UInt64) -> [Event]? { recentBlobs[sequence] }

    private func remember(_ sequence: UInt64, _ events: [Event]) {
        recentBlobs[sequence] = events
        recentOrder.append(sequence)
        if recentOrder.count > Self.recentBlobLimit { recentBlobs[recentOrder.removeFirst()] = nil }
    }

    private func submitSealed(_ encoded: [UInt8], events: [Event], sequence: UInt64, ids: [UInt64]) async {
        // Remembered before submitting: the consumer may apply (and refuse) the blob before the submit returns.
        remember(sequence, events)
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

    /// Submits one blob with retries; after an ambiguous failure, looks for it on the DA first.
    private func submit(_ blob: [UInt8], sequence: UInt64) async -> Result<BlobReference, RuntimeError> {
        let commitment = options.commitment.commitment(of: blob)
        // Heights above `scannedThrough` may hold an earlier attempt of this blob.
        var scannedThrough: UInt64? = try? await da.head()
        var ambiguous = false
        var attempt = 0
        while true {
            if ambiguous, let commitment, let found = await findLanded(commitment, after: &scannedThrough) {
                counters.landedDespiteFailure += 1
                return .success(found)
            }
            if ambiguous { counters.resubmissions += 1 }
            attempt += 1
            counters.submitAttempts += 1
            do {
                return .success(try await da.submit(blob, to: namespace))
            } catch {
                guard error.isRetryable else {
                    let code: RuntimeError.Code = error.code == .blobTooLarge ? .unpublishable : .daFailure
                    return .failure(RuntimeError(code, "DA refused blob \(publisherID)#\(sequence): \(error)"))
                }
                counters.submitFailures += 1
                ambiguous = ambiguous || error.code == .unavailable
                if let maxAttempts = options.maxAttempts, attempt >= maxAttempts {
                    // One last look: the blob may have landed on an ambiguous failure.
                    if ambiguous, let commitment, let found = await findLanded(commitment, after: &scannedThrough) {
                        counters.landedDespiteFailure += 1
                        return .success(found)
                    }
                    return .failure(RuntimeError(
                        .daUnavailable, "blob \(publisherID)#\(sequence) not included after \(attempt) attempts: \(error.message)"))
                }
                do {
                    try await options.sleeper.sleep(for: options.backoff.delay(attempt: attempt))
                } catch {
                    return .failure(RuntimeError(.stopped, "cancelled while retrying blob \(publisherID)#\(sequence)"))
                }
            }
        }
    }

    /// Scans the heights after `scannedThrough` up to the head for a blob with `commitment` in this
    /// namespace. Advances `scannedThrough` past every height it read; stops at the first read error
    /// (the caller then resubmits, which is harmless).
    private func findLanded(_ commitment: [UInt8], after scannedThrough: inout UInt64?) async -> BlobReference? {
        guard let start = scannedThrough, let head = try? await da.head() else { return nil }
        var height = start + 1
        while height <= head {
            guard let blobs = try? await da.blobs(of: namespace, at: height) else { return nil }
            if let match = blobs.first(where: { $0.reference.commitment == commitment }) {
                return match.reference
            }
            scannedThrough = height
            height += 1
        }
        return nil
    }
}
