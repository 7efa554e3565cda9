import DSDNCore
import DSDNDA

/// An error of the coordinator runtime, classified so callers (the CLI, the service) can map it to an
/// exit code or a health state. `message` is one line for an operator; `height` and `index` name the DA
/// position involved, when there is one.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of a runtime error.
    public enum Code: String, Sendable, Hashable {
        /// A height range that cannot be read: `from` is 0, or `from` > `to`.
        case invalidRange = "invalid_range"
        /// The DA stayed unavailable after the bounded retries.
        case daUnavailable = "da_unavailable"
        /// The DA no longer serves the height (pruned history). Nothing is ever skipped.
        case prunedHistory = "pruned_history"
        /// A height beyond the DA's head was requested.
        case futureHeight = "future_height"
        /// A blob's bytes did not match the DA's commitment, on every re-read.
        case commitmentMismatch = "commitment_mismatch"
        /// The rebuilt state's checksum is not the expected one.
        case checksumMismatch = "checksum_mismatch"
        /// The DA refused the call for a reason retrying cannot fix (unauthorized, corrupted storage,
        /// invalid namespace or request).
        case daFailure = "da_failure"
        /// An event or batch cannot be published (it does not encode, or one event alone exceeds the
        /// blob-size cap).
        case unpublishable = "unpublishable"
        /// The component was stopped (or cancelled) before the request completed.
        case stopped = "stopped"
        /// The component is already running (e.g. a background flusher started twice).
        case alreadyStarted = "already_started"
        /// The publisher's backlog is full: retry later. Nothing was accepted.
        case backpressure = "backpressure"
        /// The durable journal (outbox) could not record an event or blob: nothing more is accepted.
        case journalFailure = "journal_failure"
    }

    /// The class.
    public var code: Code
    /// One line for an operator.
    public var message: String
    /// The DA height involved, if any.
    public var height: UInt64?
    /// The blob index within `height` involved, if any.
    public var index: UInt32?

    /// The error this one wraps, when it wraps one. Not part of equality: two errors are the same when
    /// they say the same thing.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, height: UInt64? = nil, index: UInt32? = nil, cause: (any Error & Sendable)? = nil
    ) {
        self.cause = cause
        self.code = code
        self.message = message
        self.height = height
        self.index = index
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: RuntimeError, rhs: RuntimeError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.height == rhs.height && lhs.index == rhs.index
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(height)
        hasher.combine(index)
    }
}

/// A map that keeps the `limit` most recently added keys: a new key beyond the limit pushes out the
/// oldest. Lookup only; never iterated.
public struct RecentMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private var values: [Key: Value] = [:]
    private var order: [Key] = []
    private var oldestSlot = 0
    /// How many keys it keeps.
    public let limit: Int

    /// An empty map keeping at most `limit` keys (at least one).
    public init(limit: Int) { self.limit = max(1, limit) }

    /// The value of `key`, if it is still kept.
    public subscript(key: Key) -> Value? { values[key] }

    /// Sets the value of `key`. Returns whether the key is new.
    @discardableResult
    public mutating func set(_ value: Value, for key: Key) -> Bool {
        guard values.updateValue(value, forKey: key) == nil else { return false }
        if order.count < limit {
            order.append(key)
        } else {
            values[order[oldestSlot]] = nil
            order[oldestSlot] = key
            oldestSlot = (oldestSlot + 1) % limit
        }
        return true
    }
}

/// Exponential backoff: `initial`, doubling per consecutive failure, capped at `maximum`.
public struct Backoff: Hashable, Sendable {
    /// The runtime default: 1 s doubling to 60 s (docs/operations.md).
    public static let standard = Backoff(initial: .seconds(1), maximum: .seconds(60))

    /// The first delay.
    public var initial: Duration
    /// The largest delay.
    public var maximum: Duration

    /// Creates a backoff; `maximum` below `initial` is raised to `initial`.
    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The delay before retry number `attempt` (1 for the first retry).
    public func delay(attempt: Int) -> Duration {
        var delay = initial
        var step = 1
        while step < attempt && delay < maximum {
            delay = delay * 2
            step += 1
        }
        return min(delay, maximum)
    }
}

/// How the runtime waits: an injected sleep so tests never depend on wall-clock time.
///
/// Production code uses ``continuous`` (or any `Clock`); tests pass a sleeper that records the requested
/// durations and returns at once, or one that waits for the test to release it. A sleeper throws
/// `CancellationError` when its task is cancelled.
public struct Sleeper: Sendable {
    private let body: @Sendable (Duration) async throws -> Void

    /// A sleeper running `body`.
    public init(_ body: @escaping @Sendable (Duration) async throws -> Void) {
        self.body = body
    }

    /// Sleeps on `clock`.
    public static func clock<C: Clock>(_ clock: C) -> Sleeper where C.Duration == Duration {
        Sleeper { duration in try await clock.sleep(for: duration) }
    }

    /// Sleeps on the continuous clock.
    public static var continuous: Sleeper { .clock(ContinuousClock()) }

    /// Waits `duration` (or whatever the injected body does).
    public func sleep(for duration: Duration) async throws {
        try await body(duration)
    }
}

/// Blob-level outcome counts of a stretch of DA history.
public struct DeliveryCounts: Hashable, Sendable {
    /// Blobs offered to the state machine.
    public var blobsSeen: UInt64 = 0
    /// Blobs applied.
    public var blobsApplied: UInt64 = 0
    /// Blobs skipped as duplicates by (publisher, sequence).
    public var blobsDuplicate: UInt64 = 0
    /// Rejected blobs, indexed by `RejectionReason.rawValue` (slot 0 unused), like the cursor.
    public var rejectionCounts = [UInt64](repeating: 0, count: 8)
    /// Blobs refused as out of order: a reader bug, never expected.
    public var blobsOutOfOrder: UInt64 = 0
    /// Events applied.
    public var eventsApplied: UInt64 = 0

    /// Creates zero counts.
    public init() {}

    /// Rejected blobs of all reasons.
    public var blobsRejected: UInt64 { rejectionCounts.reduce(0, +) }

    /// Rejected blobs for one reason.
    public func rejections(_ reason: RejectionReason) -> UInt64 { rejectionCounts[Int(reason.rawValue)] }

    mutating func record(_ outcome: BlobOutcome) {
        blobsSeen += 1
        switch outcome {
        case let .applied(events):
            blobsApplied += 1
            eventsApplied += UInt64(events)
        case .duplicate:
            blobsDuplicate += 1
        case let .rejected(rejection):
            rejectionCounts[Int(rejection.reason.rawValue)] += 1
        case .outOfOrder:
            blobsOutOfOrder += 1
        }
    }
}
