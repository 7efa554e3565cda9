import DSDNCore
import DSDNDA

/// Following the DA up to a height: the runtime's one read → verify → apply path, used by the
/// ``DAConsumer`` (live), the ``StateRebuilder`` (a range, then a report) and `events export`.
///
/// - **One place reads and verifies** (``read(_:)``): a height's blobs are checked against the DA's
///   own ``DALayer/commitmentScheme``; a mismatching height is re-read at once up to `maxRereads` times.
///   A height is handed on only when all of its blobs verified, so a failed read never leaves a height
///   half-applied.
/// - **One place applies**: ``follow(from:through:isolation:onSetback:apply:)`` calls `apply` for every
///   height, in order, exactly once, in the calling task (and on the caller's actor).
/// - **Read-ahead**: while a height is applied, up to `readAhead` later heights are read concurrently
///   in child tasks of a task group (bounded, structured; cancelling the caller cancels them). Retries
///   and backoff happen only in the calling task, in height order, so the waits are deterministic.
/// - **Persistence** is an option: ``Persistence/bounded(maxAttempts:)`` gives up with a classified
///   ``RuntimeError`` (`daUnavailable`, `futureHeight`, `commitmentMismatch`, …; the rebuilder and
///   `events export`), ``Persistence/forever`` retries every retryable error and persistent mismatch
///   with backoff and reports each through `onSetback` (the consumer's health).
public struct DAFollower: Sendable {
    /// How long the follower keeps trying.
    public enum Persistence: Sendable, Hashable {
        /// At most `maxAttempts` attempts per DA call, then `daUnavailable`; a height beyond the head is
        /// `futureHeight` and a blob mismatching on every re-read is `commitmentMismatch`, at once.
        case bounded(maxAttempts: Int)
        /// Retry retryable DA errors and persistent mismatches forever, with backoff.
        case forever
    }

    /// Tuning.
    public struct Options: Sendable {
        /// How long to keep trying.
        public var persistence: Persistence
        /// Delay between attempts (attempt counted per DA call, reset after a success).
        public var backoff: Backoff
        /// How the follower waits between attempts.
        public var sleeper: Sleeper
        /// Immediate re-reads of a height whose blob does not match its commitment.
        public var maxRereads: Int
        /// Heights read ahead of the one being applied (0: strictly one at a time).
        public var readAhead: Int

        /// Creates options. Defaults: bounded to 10 attempts, 1 s doubling to 60 s on the continuous
        /// clock, 5 re-reads, 4 heights read ahead.
        public init(
            persistence: Persistence = .bounded(maxAttempts: 10),
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            maxRereads: Int = 5,
            readAhead: Int = 4
        ) {
            if case let .bounded(maxAttempts) = persistence {
                self.persistence = .bounded(maxAttempts: max(1, maxAttempts))
            } else {
                self.persistence = persistence
            }
            self.backoff = backoff
            self.sleeper = sleeper
            self.maxRereads = max(0, maxRereads)
            self.readAhead = max(0, readAhead)
        }
    }

    /// A failed attempt that will be retried after a backoff.
    public struct Setback: Sendable {
        /// What failed.
        public enum Kind: Sendable {
            /// A retryable DA error.
            case daError(DAError)
            /// A blob still did not match its commitment after `reads` reads.
            case mismatch(index: UInt32, reads: Int)
        }

        /// The height read (`nil`: the head).
        public var height: UInt64?
        /// What failed.
        public var kind: Kind
        /// The attempt that failed (1 for the first).
        public var attempt: Int
        /// One line for an operator.
        public var description: String
    }

    /// A height read and verified.
    public struct VerifiedHeight: Sendable {
        /// The height.
        public var height: UInt64
        /// Its blobs, sorted by index, each matching its commitment.
        public var blobs: [DABlob]
        /// Re-reads a commitment mismatch caused.
        public var rereads: Int

        /// Hands every blob to `machine` at its DA position, in index order: the one place where verified
        /// DA bytes reach the state machine. Returns each blob with its outcome.
        public func apply(to machine: inout StateMachine) -> [(blob: DABlob, outcome: BlobOutcome)] {
            blobs.map { blob in
                (blob, machine.apply(blob: blob.data, at: BlobPosition(height: height, index: blob.reference.index)))
            }
        }
    }

    /// The DA read from.
    public let da: any DALayer
    /// The namespace followed.
    public let namespace: DANamespace
    /// Tuning.
    public let options: Options
    /// Who follows, for messages ("the rebuild", "the consumer").
    public let purpose: String

    /// Creates a follower.
    public init(da: any DALayer, namespace: DANamespace, options: Options = Options(), purpose: String = "following the DA") {
        self.da = da
        self.namespace = namespace
        self.options = options
        self.purpose = purpose
    }

    /// The DA's head, with the retries of ``Options/persistence``.
    public func head(
        isolation: isolated (any Actor)? = #isolation,
        onSetback: (Setback) async -> Void = { _ in }
    ) async throws(RuntimeError) -> UInt64 {
        var attempt = 0
        while true {
            attempt += 1
            let error: DAError
            do {
                return try await da.head()
            } catch let failure {
                error = failure
            }
            let setback = try classify(.daError(error), height: nil, attempt: attempt)
            await onSetback(setback)
            try await backOff(attempt: attempt, at: nil)
        }
    }

    /// Reads heights `from...last` and calls `apply` for each, in order, reading up to
    /// ``Options/readAhead`` heights ahead. Throws a ``RuntimeError`` (`stopped` when cancelled) or
    /// whatever `apply` throws; then no later height is applied.
    public func follow(
        from: UInt64,
        through last: UInt64,
        isolation: isolated (any Actor)? = #isolation,
        onSetback: (Setback) async -> Void = { _ in },
        apply: (VerifiedHeight) async throws -> Void
    ) async throws {
        guard from <= last else { return }
        let window = UInt64(options.readAhead) + 1
        let (da, namespace, maxRereads) = (self.da, self.namespace, options.maxRereads)
        let failure: (any Error)? = await withTaskGroup(of: (UInt64, Attempt).self, returning: (any Error)?.self, isolation: isolation) {
            group in
            var scheduled = from  // the next height to start reading
            while scheduled <= last, scheduled - from < window {
                let height = scheduled
                group.addTask(operation: { (height, await Self.read(height, da: da, namespace: namespace, maxRereads: maxRereads)) })
                scheduled += 1
            }
            var ready: [UInt64: Attempt] = [:]  // lookup only
            var height = from
            var attempt = 0
            while height <= last {
                if Task.isCancelled {
                    group.cancelAll()
                    return RuntimeError(.stopped, "\(purpose) was cancelled before height \(height)", height: height)
                }
                var result = ready.removeValue(forKey: height)
                while result == nil, let next = await group.next() {
                    if next.0 == height { result = next.1 } else { ready[next.0] = next.1 }
                }
                guard let result else {
                    return RuntimeError(.stopped, "\(purpose) was cancelled before height \(height)", height: height)
                }
                switch result {
                case let .verified(verified):
                    attempt = 0
                    do {
                        try await apply(verified)
                    } catch {
                        group.cancelAll()
                        return error
                    }
                    height += 1
                    if scheduled <= last {
                        let next = scheduled
                        group.addTask(operation: { (next, await Self.read(next, da: da, namespace: namespace, maxRereads: maxRereads)) })
                        scheduled += 1
                    }
                case let .failed(kind):
                    attempt += 1
                    do throws(RuntimeError) {
                        let setback = try classify(kind, height: height, attempt: attempt)
                        await onSetback(setback)
                        try await backOff(attempt: attempt, at: height)
                    } catch {
                        group.cancelAll()
                        return error
                    }
                    let again = height
                    group.addTask(operation: { (again, await Self.read(again, da: da, namespace: namespace, maxRereads: maxRereads)) })
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    // MARK: - Reading and verifying (the one place)

    enum Attempt: Sendable {
        case verified(VerifiedHeight)
        case failed(Setback.Kind)
    }

    /// One attempt at `height`: read, verify against the DA's scheme, re-read a mismatch at once.
    static func read(_ height: UInt64, da: any DALayer, namespace: DANamespace, maxRereads: Int) async -> Attempt {
        let scheme = da.commitmentScheme
        var rereads = 0
        while true {
            if Task.isCancelled { return .failed(.daError(DAError(.unavailable, "cancelled"))) }
            let blobs: [DABlob]
            do {
                blobs = try await da.blobs(of: namespace, at: height)
            } catch {
                return .failed(.daError(error))
            }
            if let bad = blobs.first(where: { !scheme.matches($0, in: namespace) }) {
                if rereads >= maxRereads { return .failed(.mismatch(index: bad.reference.index, reads: rereads + 1)) }
                rereads += 1
                continue
            }
            return .verified(
                VerifiedHeight(
                    height: height, blobs: blobs.sorted { $0.reference.index < $1.reference.index }, rereads: rereads))
        }
    }

    // MARK: - Retries (the one policy)

    /// The setback to retry after, or the classified error that ends following.
    private func classify(_ kind: Setback.Kind, height: UInt64?, attempt: Int) throws(RuntimeError) -> Setback {
        let at = height.map { "height \($0)" } ?? "the head"
        switch kind {
        case let .mismatch(index, reads):
            let h = height ?? 0
            let description = "blob \(h)/\(index) does not match its DA commitment (\(da.commitmentScheme.name)) on \(reads) reads"
            if case .bounded = options.persistence {
                throw RuntimeError(.commitmentMismatch, description, height: h, index: index)
            }
            return Setback(height: height, kind: kind, attempt: attempt, description: description)
        case let .daError(error):
            switch error.code {
            case .pruned:
                throw RuntimeError(
                    .prunedHistory,
                    "height \(height ?? 0) is pruned from the DA; \(purpose) cannot continue past it (\(error.message))",
                    height: height)
            case .heightFromFuture:
                if case .bounded = options.persistence {
                    throw RuntimeError(.futureHeight, "\(at) is beyond the DA head: \(error.message)", height: height, cause: error)
                }
            case .unavailable:
                if case let .bounded(maxAttempts) = options.persistence, attempt >= maxAttempts {
                    throw RuntimeError(
                        .daUnavailable, "DA unavailable reading \(at) after \(attempt) attempts: \(error.message)", height: height)
                }
            default:
                throw RuntimeError(.daFailure, "DA refused reading \(at): \(error)", height: height, cause: error)
            }
            return Setback(height: height, kind: kind, attempt: attempt, description: "DA error reading \(at): \(error)")
        }
    }

    private func backOff(attempt: Int, at height: UInt64?) async throws(RuntimeError) {
        do {
            try await options.sleeper.sleep(for: options.backoff.delay(attempt: attempt))
        } catch {
            let at = height.map { "height \($0)" } ?? "the head"
            throw RuntimeError(.stopped, "\(purpose) was cancelled while waiting to retry \(at)", height: height)
        }
    }
}
