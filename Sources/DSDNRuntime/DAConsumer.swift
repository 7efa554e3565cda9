import DSDNCore
import DSDNDA

/// Follows a DA namespace and applies every height, in order, to the state machine it owns.
///
/// - **Sequential cursor.** After height `h` it reads `h + 1`, always. `newHeights()` is only a wake-up
///   signal: when caught up, the consumer waits for the next notification (or a poll interval if the
///   stream ends), then asks `head()` and backfills every height up to it. No height is ever skipped.
/// - **Verified bytes.** Each height's blobs are checked against the DA's commitment; a mismatch is
///   re-read up to `maxRereads` times, then treated like a transient DA error (backoff, read again). A
///   height is applied only after all of its blobs were read and verified, so a failed read never leaves
///   a height half-applied.
/// - **Never fatal for data.** Foreign, malformed, duplicate and invalid blobs are outcomes of the state
///   machine, counted in ``Counters``. Only pruned history and non-retryable DA errors (unauthorized,
///   corrupted storage) stop the consumer: ``run()`` throws and ``health`` says why.
/// - **Backoff** on retryable DA errors: 1 s doubling to 60 s by default, reset after a success, waited
///   through the injected ``Sleeper``.
/// - **Cancellation** of the task running ``run()`` stops it cleanly between heights; the state stays
///   exactly as of the last applied height.
public actor DAConsumer {
    /// Tuning.
    public struct Options: Sendable {
        /// Backoff on retryable DA errors.
        public var backoff: Backoff
        /// How the consumer waits (backoff, polling).
        public var sleeper: Sleeper
        /// Wait between head polls when the DA's `newHeights()` stream has ended.
        public var pollInterval: Duration
        /// How blob bytes are verified.
        public var commitment: CommitmentScheme
        /// Immediate re-reads of a height whose blob does not match its commitment, before backing off.
        public var maxRereads: Int

        /// Creates options. Defaults: 1 s → 60 s backoff on the continuous clock, poll every 5 s,
        /// SHA-256 commitments, 5 re-reads.
        public init(
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            pollInterval: Duration = .seconds(5),
            commitment: CommitmentScheme = .sha256,
            maxRereads: Int = 5
        ) {
            self.backoff = backoff
            self.sleeper = sleeper
            self.pollInterval = pollInterval
            self.commitment = commitment
            self.maxRereads = max(0, maxRereads)
        }
    }

    /// What the consumer is doing.
    public enum Health: Hashable, Sendable {
        /// Created, ``run()`` not started yet.
        case idle
        /// Reading heights below the head.
        case catchingUp
        /// Applied everything up to the head; waiting for new heights.
        case following
        /// The last DA call failed with a retryable error; retrying with backoff.
        case degraded(String)
        /// Stopped by an error retrying cannot fix.
        case failed(RuntimeError)
        /// Stopped by cancellation.
        case stopped

        /// Whether the consumer is keeping up (catching up or following).
        public var isHealthy: Bool {
            switch self {
            case .catchingUp, .following: true
            default: false
            }
        }
    }

    /// Operational counters.
    public struct Counters: Hashable, Sendable {
        /// Heights applied by this consumer.
        public var heightsApplied: UInt64 = 0
        /// Blob outcomes.
        public var delivery = DeliveryCounts()
        /// Retryable DA errors (each followed by a backoff).
        public var daErrors: UInt64 = 0
        /// Re-reads caused by commitment mismatches.
        public var commitmentRereads: UInt64 = 0
        /// Heights whose blobs still mismatched after every re-read (then retried with backoff).
        public var commitmentFailures: UInt64 = 0
        /// Wake-ups from the `newHeights()` stream or polls.
        public var wakeUps: UInt64 = 0
    }

    /// The DA followed.
    public nonisolated let da: any DALayer
    /// The namespace followed.
    public nonisolated let namespace: DANamespace
    /// Tuning.
    public nonisolated let options: Options

    private var machine: StateMachine
    /// The last height applied (0: none).
    public private(set) var appliedHeight: UInt64
    /// The DA head as last observed.
    public private(set) var head: UInt64 = 0
    /// What the consumer is doing.
    public private(set) var health: Health = .idle
    /// Operational counters.
    public private(set) var counters = Counters()
    private var running = false
    private var waiters: [(height: UInt64, key: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiter = 0
    private var observers: [Int: AsyncStream<UInt64>.Continuation] = [:]  // lookup only; never iterated for order
    private var nextObserver = 0
    private var rejectionObservers: [Int: AsyncStream<BlobRejection>.Continuation] = [:]  // lookup only

    /// Creates a consumer that continues after `appliedHeight` with `machine` (a fresh machine and 0 to
    /// follow from the beginning; a rebuilt machine and its last height to continue after a rebuild).
    public init(
        da: any DALayer,
        namespace: DANamespace,
        machine: StateMachine = StateMachine(),
        appliedHeight: UInt64 = 0,
        options: Options = Options()
    ) {
        self.da = da
        self.namespace = namespace
        self.machine = machine
        self.appliedHeight = appliedHeight
        self.options = options
    }

    /// Heights between the applied height and the observed head.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }

    /// A snapshot of the derived state: an independent value readers may keep.
    public func snapshot() -> DerivedState { machine.state }

    /// Checks `events` against the current state after `pending` (see `StateMachine.dryRun`), leaving
    /// the state unchanged. Used to refuse an event before it is acknowledged rather than have its blob
    /// rejected later.
    public func dryRun(_ events: [Event], after pending: [[Event]] = []) throws(ApplyError) {
        try machine.dryRun(events, after: pending)
    }

    /// The state with the height it was applied up to, the head and the health, read in one step (so a
    /// reported checksum always belongs to the reported height).
    public func view() -> (state: DerivedState, appliedHeight: UInt64, head: UInt64, health: Health) {
        (machine.state, appliedHeight, head, health)
    }

    /// The delivery bookkeeping of the current state (cheap: no snapshot of the state).
    public var cursor: DeliveryCursor { machine.state.cursor }

    /// The content checksum of the current state.
    public func checksum() -> Hash256 { machine.state.checksum() }

    /// A stream of applied heights (the newest applied height after each height is applied), for
    /// components that react to new state, such as the scheduling loop. A slow reader sees only the
    /// newest height; the stream ends when the consumer stops.
    public func appliedHeights() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        nextObserver += 1
        let key = nextObserver
        observers[key] = continuation
        if appliedHeight > 0 { continuation.yield(appliedHeight) }
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(key) }
        }
        return stream
    }

    private func removeObserver(_ key: Int) {
        observers[key] = nil
        rejectionObservers[key] = nil
    }

    /// A stream of every blob rejection from now on, in canonical order (unbounded buffer), so a
    /// publisher can notice that one of its own blobs was refused. Ends when the consumer stops.
    public func rejections() -> AsyncStream<BlobRejection> {
        let (stream, continuation) = AsyncStream<BlobRejection>.makeStream()
        nextObserver += 1
        let key = nextObserver
        rejectionObservers[key] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(key) }
        }
        return stream
    }

    /// Suspends until `height` is applied. Throws the consumer's error if it fails or stops first, and
    /// `CancellationError` if the waiting task is cancelled.
    public func waitUntilApplied(_ height: UInt64) async throws {
        if appliedHeight >= height { return }
        if let error = terminalError { throw error }
        try Task.checkCancellation()
        nextWaiter += 1
        let key = nextWaiter
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((height, key, continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(key) }
        }
    }

    private func cancelWaiter(_ key: Int) {
        guard let position = waiters.firstIndex(where: { $0.key == key }) else { return }
        waiters.remove(at: position).continuation.resume(throwing: CancellationError())
    }

    /// Follows the DA until the calling task is cancelled (returns normally) or an error retrying cannot
    /// fix occurs (throws it). Calling it while it already runs throws `alreadyStarted`.
    public func run() async throws(RuntimeError) {
        guard !running else { throw RuntimeError(.alreadyStarted, "the consumer is already running") }
        running = true
        defer { running = false }
        // Subscribe before the first head read, so no height produced after it goes unnoticed.
        var wakeUps = da.newHeights().makeAsyncIterator()
        let reader = VerifiedReader(
            da: da, namespace: namespace, scheme: options.commitment, maxRereads: options.maxRereads)
        var failures = 0
        while !Task.isCancelled {
            do {
                let current = try await da.head()
                head = max(head, current)
                if appliedHeight < current {
                    health = .catchingUp
                    let height = appliedHeight + 1
                    let (blobs, rereads) = try await reader.read(height)
                    counters.commitmentRereads += UInt64(rereads)
                    apply(blobs, at: height)
                    failures = 0
                    continue
                }
                failures = 0
                health = .following
                if let _ = await wakeUps.next() {
                    counters.wakeUps += 1
                } else if !Task.isCancelled {
                    // The stream ended (backend closed or finished): fall back to polling.
                    try await options.sleeper.sleep(for: options.pollInterval)
                    counters.wakeUps += 1
                }
            } catch let failure as VerifiedReader.Failure {
                switch failure {
                case let .da(error):
                    if error.isRetryable {
                        counters.daErrors += 1
                        health = .degraded("DA error at height \(appliedHeight + 1): \(error)")
                    } else {
                        let stop = classify(error, at: appliedHeight + 1)
                        fail(stop)
                        throw stop
                    }
                case let .mismatch(height, index, reads):
                    counters.commitmentRereads += UInt64(max(0, reads - 1))
                    counters.commitmentFailures += 1
                    health = .degraded("blob \(height)/\(index) did not match its DA commitment on \(reads) reads")
                }
                failures += 1
                do {
                    try await options.sleeper.sleep(for: options.backoff.delay(attempt: failures))
                } catch {
                    break
                }
            } catch let error as DAError {
                if error.isRetryable {
                    counters.daErrors += 1
                    health = .degraded("DA error reading the head: \(error)")
                    failures += 1
                    do {
                        try await options.sleeper.sleep(for: options.backoff.delay(attempt: failures))
                    } catch {
                        break
                    }
                } else {
                    let stop = classify(error, at: nil)
                    fail(stop)
                    throw stop
                }
            } catch {
                // Cancellation of a sleep.
                break
            }
        }
        health = .stopped
        for observer in observers.values { observer.finish() }
        observers = [:]
        for observer in rejectionObservers.values { observer.finish() }
        rejectionObservers = [:]
        resumeWaiters(throwing: RuntimeError(.stopped, "the consumer stopped at height \(appliedHeight)", height: appliedHeight))
    }

    // MARK: - Internals

    private var terminalError: RuntimeError? {
        switch health {
        case let .failed(error): error
        case .stopped: RuntimeError(.stopped, "the consumer stopped at height \(appliedHeight)", height: appliedHeight)
        default: nil
        }
    }

    private func apply(_ blobs: [DABlob], at height: UInt64) {
        for blob in blobs {
            let outcome = machine.apply(blob: blob.data, at: BlobPosition(height: height, index: blob.reference.index))
            counters.delivery.record(outcome)
            if case let .rejected(rejection) = outcome {
                for observer in rejectionObservers.values { observer.yield(rejection) }
            }
        }
        appliedHeight = height
        counters.heightsApplied += 1
        for observer in observers.values { observer.yield(height) }
        if !waiters.isEmpty {
            var remaining: [(height: UInt64, key: Int, continuation: CheckedContinuation<Void, any Error>)] = []
            for waiter in waiters {
                if waiter.height <= height { waiter.continuation.resume() } else { remaining.append(waiter) }
            }
            waiters = remaining
        }
    }

    private func classify(_ error: DAError, at height: UInt64?) -> RuntimeError {
        let at = height.map { "height \($0)" } ?? "the head"
        switch error.code {
        case .pruned:
            return RuntimeError(.prunedHistory, "height \(height ?? 0) is pruned from the DA; the consumer cannot continue without it (\(error.message))", height: height)
        default:
            return RuntimeError(.daFailure, "DA refused reading \(at): \(error)", height: height)
        }
    }

    private func fail(_ error: RuntimeError) {
        health = .failed(error)
        for observer in observers.values { observer.finish() }
        observers = [:]
        for observer in rejectionObservers.values { observer.finish() }
        rejectionObservers = [:]
        resumeWaiters(throwing: error)
    }

    private func resumeWaiters(throwing error: RuntimeError) {
        let pending = waiters
        waiters = []
        for waiter in pending { waiter.continuation.resume(throwing: error) }
    }
}
