import DSDNCore
import DSDNDA

/// Progress of a rebuild, reported once per height after the height was applied.
public struct RebuildProgress: Hashable, Sendable {
    /// The height just applied.
    public var height: UInt64
    /// The first height of the range.
    public var fromHeight: UInt64
    /// The last height of the range.
    public var toHeight: UInt64
    /// Heights applied so far (including this one).
    public var heightsDone: UInt64
    /// Heights in the range.
    public var heightsTotal: UInt64
    /// Events applied so far.
    public var eventsApplied: UInt64
}

/// What a rebuild did.
public struct RebuildReport: Hashable, Sendable {
    /// The first height read.
    public var fromHeight: UInt64
    /// The last height read (`fromHeight - 1` when the range was empty).
    public var toHeight: UInt64
    /// Heights read and applied.
    public var heightsRead: UInt64 = 0
    /// Blob outcomes over the range.
    public var counts = DeliveryCounts()
    /// DA calls retried after a retryable error.
    public var daRetries: UInt64 = 0
    /// Re-reads caused by a blob whose bytes did not match the DA's commitment.
    public var commitmentRereads: UInt64 = 0
    /// How many progress callbacks threw (the rebuild went on regardless).
    public var progressFailures: UInt64 = 0
    /// The first progress callback error, described.
    public var firstProgressFailure: String?
    /// The content checksum of the rebuilt state.
    public var checksum: Hash256 = .zero
    /// The digest of the rebuilt delivery cursor.
    public var cursorDigest: Hash256 = .zero
}

/// Rebuilds derived state by replaying a namespace's DA history: heights in order, blobs in index order,
/// each blob verified against its DA commitment and fed to `StateMachine.apply(blob:at:)` at its
/// `(height, index)` position. Nothing is ever skipped: a height that cannot be read stops the rebuild
/// with a classified ``RuntimeError``.
public struct StateRebuilder: Sendable {
    /// Tuning.
    public struct Options: Sendable {
        /// Attempts per DA call before the DA counts as unavailable (at least 1).
        public var maxAttempts: Int
        /// Delay between attempts.
        public var backoff: Backoff
        /// How the rebuilder waits between attempts.
        public var sleeper: Sleeper
        /// Re-reads of a height whose blob does not match its commitment before giving up.
        public var maxRereads: Int
        /// Heights read ahead of the one being applied.
        public var readAhead: Int

        /// Creates options. Defaults: 10 attempts, backoff 1 s doubling to 60 s on the continuous clock,
        /// 5 re-reads, 4 heights read ahead. Blobs are verified with the DA's own commitment scheme.
        public init(
            maxAttempts: Int = 10,
            backoff: Backoff = .standard,
            sleeper: Sleeper = .continuous,
            maxRereads: Int = 5,
            readAhead: Int = 4
        ) {
            self.maxAttempts = max(1, maxAttempts)
            self.backoff = backoff
            self.sleeper = sleeper
            self.maxRereads = max(0, maxRereads)
            self.readAhead = max(0, readAhead)
        }
    }

    /// The DA read from.
    public let da: any DALayer
    /// The namespace replayed.
    public let namespace: DANamespace
    /// Tuning.
    public let options: Options

    /// Creates a rebuilder.
    public init(da: any DALayer, namespace: DANamespace, options: Options = Options()) {
        self.da = da
        self.namespace = namespace
        self.options = options
    }

    /// Replays heights `from...to` (`to` = the DA's head when `nil`) into `machine`.
    ///
    /// - Parameters:
    ///   - machine: The machine to apply into; a fresh one rebuilds from scratch, one restored to an
    ///     earlier height continues from there (`from` must then be after its cursor).
    ///   - expectedChecksum: When given, the rebuilt content checksum must equal it.
    ///   - progress: Called once per height after the height is applied. If it throws, the failure is
    ///     counted in the report and the rebuild goes on.
    ///   - inspect: Called once per height after the height is applied, with its blobs and outcomes and
    ///     the state at that height (an audit re-executes decisions there). If it throws, the rebuild
    ///     stops with that error.
    /// - Throws: ``RuntimeError`` with code `invalidRange` (`from` is 0 or after `to`), `futureHeight`
    ///   (`to` beyond the head), `prunedHistory` (names the height), `daUnavailable` (after
    ///   `maxAttempts`), `commitmentMismatch` (names height and index), `daFailure`, `checksumMismatch`
    ///   or `stopped` (cancelled).
    public func rebuild(
        into machine: inout StateMachine,
        from: UInt64 = 1,
        to: UInt64? = nil,
        expectedChecksum: Hash256? = nil,
        progress: (@Sendable (RebuildProgress) async throws -> Void)? = nil,
        inspect: ((_ height: UInt64, _ blobs: [(blob: DABlob, outcome: BlobOutcome)], _ state: DerivedState) throws -> Void)? = nil
    ) async throws(RuntimeError) -> RebuildReport {
        guard from >= 1 else {
            throw RuntimeError(.invalidRange, "heights start at 1; cannot rebuild from height 0")
        }
        // The namespace's history begins at the DA's genesis height: nothing below it is read.
        let from = max(from, da.firstHeight)
        if let to, from > to {
            throw RuntimeError(.invalidRange, "invalid range: from height \(from) is after to height \(to)")
        }
        var report = RebuildReport(fromHeight: from, toHeight: from - 1)
        let follower = DAFollower(
            da: da, namespace: namespace,
            options: .init(
                persistence: .bounded(maxAttempts: options.maxAttempts), backoff: options.backoff,
                sleeper: options.sleeper, maxRereads: options.maxRereads, readAhead: options.readAhead),
            purpose: "the rebuild")
        let head = try await follower.head { _ in report.daRetries += 1 }
        let last: UInt64
        if let to {
            guard to <= head else {
                throw RuntimeError(.futureHeight, "to height \(to) is beyond the DA head \(head)", height: to)
            }
            last = to
        } else {
            guard from <= head + 1 else {
                throw RuntimeError(.futureHeight, "from height \(from) is beyond the DA head \(head)", height: from)
            }
            last = head
        }
        report.toHeight = last
        let total = last >= from ? last - from + 1 : 0
        do {
            try await follower.follow(from: from, through: last, onSetback: { _ in report.daRetries += 1 }) { verified in
                report.commitmentRereads += UInt64(verified.rereads)
                let height = verified.height
                let applied = verified.apply(to: &machine)
                for (_, outcome) in applied { report.counts.record(outcome) }
                report.heightsRead += 1
                if let inspect {
                    do {
                        try inspect(height, applied, machine.state)
                    } catch {
                        throw RuntimeError(.stopped, "height \(height): \(error)", height: height, cause: error)
                    }
                }
                if let progress {
                    let update = RebuildProgress(
                        height: height, fromHeight: from, toHeight: last, heightsDone: report.heightsRead,
                        heightsTotal: total, eventsApplied: report.counts.eventsApplied)
                    do {
                        try await progress(update)
                    } catch {
                        report.progressFailures += 1
                        if report.firstProgressFailure == nil {
                            report.firstProgressFailure = "height \(height): \(error)"
                        }
                    }
                }
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.stopped, "the rebuild stopped: \(error)", cause: error)
        }
        report.checksum = machine.state.checksum()
        report.cursorDigest = machine.state.cursorDigest()
        if let expectedChecksum, expectedChecksum != report.checksum {
            throw RuntimeError(
                .checksumMismatch,
                "checksum mismatch after heights \(from)...\(last): expected \(expectedChecksum), rebuilt \(report.checksum)",
                height: last)
        }
        return report
    }

    /// Rebuilds into a fresh machine and returns it with the report.
    public func rebuild(
        from: UInt64 = 1,
        to: UInt64? = nil,
        expectedChecksum: Hash256? = nil,
        progress: (@Sendable (RebuildProgress) async throws -> Void)? = nil
    ) async throws(RuntimeError) -> (machine: StateMachine, report: RebuildReport) {
        var machine = StateMachine()
        let report = try await rebuild(
            into: &machine, from: from, to: to, expectedChecksum: expectedChecksum, progress: progress)
        return (machine, report)
    }
}
