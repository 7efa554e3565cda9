import DSDNCore
import DSDNDA
import Synchronization

/// Follows a DA namespace and applies every height, in order, to the state machine it owns.
///
/// - **Sequential cursor.** After height `h` it reads `h + 1`, always. `newHeights()` is only a wake-up
///   signal: when caught up, the consumer waits for the next notification (or a poll interval if the
///   stream ends), then asks `head()` and backfills every height up to it. No height is ever skipped.
/// - **One path.** Reading, verifying and retrying are the ``DAFollower``'s (with read-ahead), the same
///   path the rebuilder and `events export` use; the consumer follows with ``DAFollower/Persistence/forever``.
/// - **Verified bytes.** Each height's blobs are checked against the DA's own commitment scheme; a mismatch is
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
        /// Immediate re-reads of a height whose blob does not match its commitment, before backing off.
        public var maxRereads: Int
        /// Heights read ahead of the one being applied while catching up.
        public var readAhead: Int

        /// Creates options. Defaults: 1 s → 60 s backoff on the continuous clock, poll every 5 s,
        /// 5 re-reads, 4 heights read ahead. Blobs are verified with the DA's own commitment scheme.
        public init(
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            pollInterval: Duration = .seconds(5),
            maxRereads: Int = 5,
            readAhead: Int = 4
        ) {
            self.backoff = backoff
            self.sleeper = sleeper
            self.pollInterval = pollInterval
            self.maxRereads = max(0, maxRereads)
            self.readAhead = max(0, readAhead)
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
    /// The outcomes of the most recently applied blobs, by position (at most `recentOutcomeLimit`), so a
    /// publisher can learn whether a blob it landed was applied or refused.
    private var recentOutcomes = RecentMap<BlobPosition, BlobOutcome>(limit: 65_536)
    /// The last height at which each publisher had a blob with placements applied (lookup only; read
    /// sorted): the coordinators that place.
    private var placerLastSeen: [String: UInt64] = [:]
    /// Waiters and observers, removable synchronously from cancellation and termination handlers.
    private nonisolated let subscribers = Subscribers()

    /// Creates a consumer that continues after `appliedHeight` with `machine` (a fresh machine and 0 to
    /// follow from the beginning, the DA's `firstHeight`; a rebuilt machine and its last height to
    /// continue after a rebuild).
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
        // Nothing of the namespace's history lies below its genesis height.
        self.appliedHeight = max(appliedHeight, da.firstHeight - 1)
        self.options = options
    }

    /// Heights between the applied height and the observed head.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }

    /// A snapshot of the derived state: an independent value readers may keep.
    public func snapshot() -> DerivedState { machine.state }

    /// Runs `body` on the current state inside the consumer and returns what it derived. Unlike a
    /// snapshot, nothing keeps the state alive afterwards, so the next apply never copies it.
    public func read<T: Sendable>(_ body: @Sendable (DerivedState) -> T) -> T { body(machine.state) }

    /// `read` with the height the state is applied up to: the snapshot height a decision records.
    public func readApplied<T: Sendable>(_ body: @Sendable (DerivedState, _ appliedHeight: UInt64) -> T) -> T {
        body(machine.state, appliedHeight)
    }

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

    /// The publishers with a blob of placements (`ReplicaAdded` with provenance) applied at `height` or
    /// later (since this consumer started), in byte-wise order: the coordinators placing now, among which
    /// placement work is divided.
    public func placers(seenSince height: UInt64) -> [String] {
        placerLastSeen.filter { $0.value >= height }.map(\.key).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// What applying the blob at `position` did, if it was applied recently (the last 65,536 blobs).
    public func outcome(at position: BlobPosition) -> BlobOutcome? { recentOutcomes[position] }

    /// The content checksum of the current state.
    public func checksum() -> Hash256 { machine.state.checksum() }

    /// A stream of applied heights (the newest applied height after each height is applied), for
    /// components that react to new state, such as the scheduling loop. A slow reader sees only the
    /// newest height; the stream ends when the consumer stops.
    public func appliedHeights() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let key = subscribers.addHeights(continuation)
        if appliedHeight > 0 { continuation.yield(appliedHeight) }
        let subscribers = self.subscribers
        continuation.onTermination = { _ in subscribers.remove(key) }
        return stream
    }

    /// A stream of every blob rejection from now on, in canonical order (unbounded buffer), so a
    /// publisher can notice that one of its own blobs was refused. Ends when the consumer stops.
    public func rejections() -> AsyncStream<BlobRejection> {
        let (stream, continuation) = AsyncStream<BlobRejection>.makeStream()
        let key = subscribers.addRejections(continuation)
        let subscribers = self.subscribers
        continuation.onTermination = { _ in subscribers.remove(key) }
        return stream
    }

    /// Suspends until `height` is applied. Throws the consumer's error if it fails or stops first, and
    /// `CancellationError` if the waiting task is cancelled.
    public func waitUntilApplied(_ height: UInt64) async throws {
        if appliedHeight >= height { return }
        if let error = terminalError { throw error }
        try Task.checkCancellation()
        let subscribers = self.subscribers
        let key = subscribers.expectWaiter()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                subscribers.addWaiter(key, height: height, continuation)
            }
        } onCancel: {
            subscribers.cancelWaiter(key)
        }
    }

    /// Follows the DA until the calling task is cancelled (returns normally) or an error retrying cannot
    /// fix occurs (throws it). Calling it while it already runs throws `alreadyStarted`.
    public func run() async throws(RuntimeError) {
        guard !running else { throw RuntimeError(.alreadyStarted, "the consumer is already running") }
        running = true
        defer { running = false }
        // Subscribe before the first head read, so no height produced after it goes unnoticed.
        var wakeUps = da.newHeights().makeAsyncIterator()
        let follower = DAFollower(
            da: da, namespace: namespace,
            options: .init(
                persistence: .forever, backoff: options.backoff, sleeper: options.sleeper,
                maxRereads: options.maxRereads, readAhead: options.readAhead),
            purpose: "the consumer")
        do {
            while !Task.isCancelled {
                let current = try await follower.head { self.noteSetback($0) }
                head = max(head, current)
                if appliedHeight < current {
                    health = .catchingUp
                    try await follower.follow(from: appliedHeight + 1, through: current, onSetback: { self.noteSetback($0) }) { verified in
                        self.counters.commitmentRereads += UInt64(verified.rereads)
                        self.apply(verified)
                        self.health = .catchingUp
                    }
                    continue
                }
                health = .following
                if await wakeUps.next() != nil {
                    counters.wakeUps += 1
                } else if !Task.isCancelled {
                    // The stream ended (backend closed or finished): fall back to polling.
                    do {
                        try await options.sleeper.sleep(for: options.pollInterval)
                    } catch {
                        break
                    }
                    counters.wakeUps += 1
                }
            }
        } catch let error as RuntimeError {
            if error.code != .stopped {
                fail(error)
                throw error
            }
        } catch {
            // Only the follower's errors reach here; anything else is a stop.
        }
        health = .stopped
        subscribers.finish(throwing: RuntimeError(.stopped, "the consumer stopped at height \(appliedHeight)", height: appliedHeight))
    }

    private func noteSetback(_ setback: DAFollower.Setback) {
        switch setback.kind {
        case .daError:
            counters.daErrors += 1
        case let .mismatch(_, reads):
            counters.commitmentRereads += UInt64(max(0, reads - 1))
            counters.commitmentFailures += 1
        }
        health = .degraded(setback.description)
    }

    // MARK: - Internals

    private var terminalError: RuntimeError? {
        switch health {
        case let .failed(error): error
        case .stopped: RuntimeError(.stopped, "the consumer stopped at height \(appliedHeight)", height: appliedHeight)
        default: nil
        }
    }

    private func apply(_ verified: DAFollower.VerifiedHeight) {
        let height = verified.height
        var rejected: [BlobRejection] = []
        for (blob, outcome) in verified.apply(to: &machine) {
            counters.delivery.record(outcome)
            if case .applied = outcome, let applied = machine.lastAppliedBlob, applied.placements > 0 {
                placerLastSeen[applied.publisherID] = height
            }
            recentOutcomes.set(outcome, for: BlobPosition(height: height, index: blob.reference.index))
            if case let .rejected(rejection) = outcome { rejected.append(rejection) }
        }
        appliedHeight = height
        counters.heightsApplied += 1
        subscribers.applied(height, rejections: rejected)
    }

    private func fail(_ error: RuntimeError) {
        health = .failed(error)
        subscribers.finish(throwing: error)
    }
}

/// The consumer's waiters and stream observers behind a `Mutex`, so cancellation and stream-termination
/// handlers (synchronous, on any thread) remove their entry at once instead of spawning a task to reach
/// the actor. Continuations are resumed and streams yielded to outside the lock (finishing a stream runs
/// its termination handler, which takes the lock again).
final class Subscribers: Sendable {
    private struct Waiter {
        var height: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var nextKey = 0
        var heights: [Int: AsyncStream<UInt64>.Continuation] = [:]  // lookup only; never iterated for order
        var rejections: [Int: AsyncStream<BlobRejection>.Continuation] = [:]  // lookup only
        var waiters: [Int: Waiter] = [:]  // lookup only
        /// Waiters announced but not registered yet; a cancellation in between is remembered here.
        var expected: Set<Int> = []
        var cancelledEarly: Set<Int> = []
    }

    private let state = Mutex(State())

    func addHeights(_ continuation: AsyncStream<UInt64>.Continuation) -> Int {
        state.withLock { state in
            state.nextKey += 1
            state.heights[state.nextKey] = continuation
            return state.nextKey
        }
    }

    func addRejections(_ continuation: AsyncStream<BlobRejection>.Continuation) -> Int {
        state.withLock { state in
            state.nextKey += 1
            state.rejections[state.nextKey] = continuation
            return state.nextKey
        }
    }

    func remove(_ key: Int) {
        state.withLock { state in
            state.heights[key] = nil
            state.rejections[key] = nil
        }
    }

    func expectWaiter() -> Int {
        state.withLock { state in
            state.nextKey += 1
            state.expected.insert(state.nextKey)
            return state.nextKey
        }
    }

    func addWaiter(_ key: Int, height: UInt64, _ continuation: CheckedContinuation<Void, any Error>) {
        let cancelled = state.withLock { state in
            state.expected.remove(key)
            if state.cancelledEarly.remove(key) != nil { return true }
            state.waiters[key] = Waiter(height: height, continuation: continuation)
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
    }

    func cancelWaiter(_ key: Int) {
        let waiter = state.withLock { state -> Waiter? in
            if let waiter = state.waiters.removeValue(forKey: key) { return waiter }
            if state.expected.contains(key) { state.cancelledEarly.insert(key) }
            return nil
        }
        waiter?.continuation.resume(throwing: CancellationError())
    }

    /// Announces an applied height: yields it (and the height's rejections, in order) and releases the
    /// waiters it satisfies.
    func applied(_ height: UInt64, rejections: [BlobRejection]) {
        let (heights, rejectionObservers, released) = state.withLock { state in
            var released: [CheckedContinuation<Void, any Error>] = []
            for (key, waiter) in state.waiters where waiter.height <= height {
                released.append(waiter.continuation)
                state.waiters[key] = nil
            }
            return (Array(state.heights.values), rejections.isEmpty ? [] : Array(state.rejections.values), released)
        }
        for rejection in rejections {
            for observer in rejectionObservers { observer.yield(rejection) }
        }
        for observer in heights { observer.yield(height) }
        for continuation in released { continuation.resume() }
    }

    /// Ends every stream and fails every waiter with `error`.
    func finish(throwing error: RuntimeError) {
        let (heights, rejections, waiters) = state.withLock { state in
            defer {
                state.heights = [:]
                state.rejections = [:]
                state.waiters = [:]
            }
            return (Array(state.heights.values), Array(state.rejections.values), Array(state.waiters.values))
        }
        for observer in heights { observer.finish() }
        for observer in rejections { observer.finish() }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }
}
