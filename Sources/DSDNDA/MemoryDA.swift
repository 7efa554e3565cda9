import Crypto
import DSDNCore
import Synchronization

/// An in-memory DA backend for tests, with seeded, reproducible fault injection.
///
/// Every successful ``submit(_:to:)`` produces a new height (heights start at 1) that holds exactly that
/// blob at index 0; its commitment is the SHA-256 of the data. Tests can also append foreign blobs and
/// empty heights, take the backend down, and inspect what is stored without faults getting in the way.
///
/// Fault decisions come only from a ``SeededGenerator`` seeded with ``Faults/seed``, so the same seed and
/// the same sequence of calls give the same faults. Calls issued concurrently interleave in actor order,
/// so only a sequential call sequence is reproducible.
public actor MemoryDA: DALayer {
    /// The fault schedule of a ``MemoryDA``. Rates are integers in parts per million (no floats, so the
    /// schedule is exact and platform independent).
    public struct Faults: Sendable, Hashable {
        /// The denominator of every rate: a rate of `perMillion` means "always".
        public static let perMillion: UInt64 = 1_000_000

        /// No faults at all.
        public static let none = Faults(seed: 0)

        /// Seeds the generator every fault decision is drawn from.
        public var seed: UInt64
        /// Per million calls of `submit` and `blobs(of:at:)`, how many throw `.unavailable` without any
        /// effect (the blob is not stored).
        public var failurePerMillion: UInt64
        /// Per million submits, how many store the blob at a new height and then throw `.unavailable`
        /// anyway: the ambiguous failure a retrying caller must tolerate (a retry lands a second copy).
        public var failButLandPerMillion: UInt64
        /// Per million successful submits, how many also append an identical copy of the blob at the
        /// next height, as a resubmitted blob would.
        public var duplicatePerMillion: UInt64
        /// Per million blobs read back, how many come back with one pseudo-randomly chosen byte flipped
        /// (all eight bits). The stored copy and the reported commitment stay intact.
        public var corruptionPerMillion: UInt64
        /// Delay applied before every `submit` and `blobs(of:at:)` call when non-zero.
        public var latency: Duration

        /// Creates a fault schedule. `failurePerMillion + failButLandPerMillion` and each other rate must
        /// not exceed ``perMillion``.
        public init(
            seed: UInt64,
            failurePerMillion: UInt64 = 0,
            failButLandPerMillion: UInt64 = 0,
            duplicatePerMillion: UInt64 = 0,
            corruptionPerMillion: UInt64 = 0,
            latency: Duration = .zero
        ) {
            precondition(
                failurePerMillion + failButLandPerMillion <= Self.perMillion,
                "failure and fail-but-land rates together must not exceed one million per million"
            )
            precondition(duplicatePerMillion <= Self.perMillion, "duplicate rate exceeds one million per million")
            precondition(corruptionPerMillion <= Self.perMillion, "corruption rate exceeds one million per million")
            self.seed = seed
            self.failurePerMillion = failurePerMillion
            self.failButLandPerMillion = failButLandPerMillion
            self.duplicatePerMillion = duplicatePerMillion
            self.corruptionPerMillion = corruptionPerMillion
            self.latency = latency
        }
    }

    /// One fault the backend injected, in the order injected. Lets tests compare fault sequences.
    public enum InjectedFault: Hashable, Sendable {
        /// A submit threw `.unavailable` and stored nothing. The associated value is the call number.
        case submitFailed(call: UInt64)
        /// A submit stored its blob at `height` and then threw `.unavailable`.
        case submitFailedButLanded(call: UInt64, height: UInt64)
        /// A successful submit also appended a copy of its blob at `height`.
        case duplicated(call: UInt64, height: UInt64)
        /// A read threw `.unavailable`.
        case readFailed(call: UInt64)
        /// A read returned the blob at `height`/`index` with the byte at `offset` flipped.
        case corrupted(call: UInt64, height: UInt64, index: UInt32, offset: Int)
    }

    /// The default cap on a blob's size: 2 MiB.
    public static let defaultMaxBlobSize = 2 * 1024 * 1024

    /// The largest blob, in bytes, that ``submit(_:to:)`` accepts.
    public nonisolated let maxBlobSize: Int
    /// How many of the newest heights stay readable; `nil` keeps every height.
    public nonisolated let retainHeights: Int?
    /// The fault schedule.
    public nonisolated let faults: Faults

    /// The faults injected so far, oldest first.
    public private(set) var injectedFaults: [InjectedFault] = []

    /// Stored blobs: `heights[h - 1]` holds height `h`, per namespace, in index order.
    private var heights: [[DANamespace: [[UInt8]]]] = []
    private var generator: SeededGenerator
    private var callCount: UInt64 = 0
    private var downReason: String?
    private let broadcaster = HeightBroadcaster()

    /// Creates an empty backend (head 0).
    ///
    /// - Parameters:
    ///   - maxBlobSize: The largest accepted blob in bytes (default 2 MiB); must not be negative.
    ///   - retainHeights: When set, only the newest `retainHeights` heights are readable and older ones
    ///     throw `.pruned`; must be at least 1.
    ///   - faults: The seeded fault schedule (default: none).
    public init(maxBlobSize: Int = MemoryDA.defaultMaxBlobSize, retainHeights: Int? = nil, faults: Faults = .none) {
        precondition(maxBlobSize >= 0, "maxBlobSize must not be negative")
        if let retainHeights { precondition(retainHeights >= 1, "retainHeights must be at least 1") }
        self.maxBlobSize = maxBlobSize
        self.retainHeights = retainHeights
        self.faults = faults
        self.generator = SeededGenerator(seed: faults.seed)
    }

    deinit {
        broadcaster.finishAll()
    }

    // MARK: - DALayer

    /// Submits one blob to `namespace` at a new height, subject to the fault schedule.
    ///
    /// Throws `.unavailable` when the backend is down or a failure is injected (with fail-but-land the
    /// blob is stored first), and `.blobTooLarge` when the blob exceeds ``maxBlobSize``.
    public func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        try checkUp()
        guard blob.count <= maxBlobSize else {
            throw DAError(.blobTooLarge, "blob of \(blob.count) bytes exceeds the \(maxBlobSize)-byte limit")
        }
        await applyLatency()
        try checkUp()
        callCount += 1
        let call = callCount
        // Two draws per submit, always, so one rate never shifts the decisions of another.
        let outcome = generator.below(Faults.perMillion)
        let duplicate = generator.chance(faults.duplicatePerMillion, in: Faults.perMillion)

        if outcome < faults.failurePerMillion {
            injectedFaults.append(.submitFailed(call: call))
            throw DAError(.unavailable, "injected failure (submit call \(call)): nothing was stored")
        }
        let reference = appendHeightRaw([(namespace, blob)])[0]
        if outcome < faults.failurePerMillion + faults.failButLandPerMillion {
            injectedFaults.append(.submitFailedButLanded(call: call, height: reference.height))
            throw DAError(.unavailable, "injected failure (submit call \(call)): the blob may have landed")
        }
        if duplicate {
            let copy = appendHeightRaw([(namespace, blob)])[0]
            injectedFaults.append(.duplicated(call: call, height: copy.height))
        }
        return reference
    }

    /// The blobs of `namespace` at `height`, in index order, subject to the fault schedule.
    ///
    /// Throws `.invalidRequest` for height 0, `.heightFromFuture` beyond the head, `.pruned` below the
    /// retained range and `.unavailable` when down or a failure is injected.
    public func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        try checkUp()
        guard height > 0 else { throw DAError(.invalidRequest, "height 0 does not exist; heights start at 1") }
        await applyLatency()
        try checkUp()
        callCount += 1
        let call = callCount
        if generator.chance(faults.failurePerMillion, in: Faults.perMillion) {
            injectedFaults.append(.readFailed(call: call))
            throw DAError(.unavailable, "injected failure (read call \(call))")
        }
        let head = currentHead
        guard height <= head else {
            throw DAError(.heightFromFuture, "height \(height) is beyond the head \(head)")
        }
        let oldest = oldestRetained
        guard height >= oldest else {
            throw DAError(.pruned, "height \(height) is pruned; the oldest retained height is \(oldest)")
        }
        let stored = storedBlobs(of: namespace, at: height)
        var result: [DABlob] = []
        result.reserveCapacity(stored.count)
        for blob in stored {
            var data = blob.data
            // Two draws per blob, always, for the same reason as in `submit`.
            let corrupt = generator.chance(faults.corruptionPerMillion, in: Faults.perMillion)
            let position = generator.next()
            if corrupt && !data.isEmpty {
                let offset = Int(UInt64((UInt128(position) &* UInt128(data.count)) >> 64))
                data[offset] ^= 0xFF
                injectedFaults.append(
                    .corrupted(call: call, height: height, index: blob.reference.index, offset: offset))
            }
            result.append(DABlob(reference: blob.reference, data: data))
        }
        return result
    }

    /// The newest height (0 before anything was appended). Throws `.unavailable` only when down.
    public func head() async throws(DAError) -> UInt64 {
        try checkUp()
        return currentHead
    }

    /// SHA-256 of the data.
    public nonisolated var commitmentScheme: CommitmentScheme { .sha256 }

    /// A stream of every height produced after the call, in order. Each subscriber gets its own stream;
    /// it ends when the backend is deallocated and unregisters when the consumer stops.
    public nonisolated func newHeights() -> AsyncStream<UInt64> {
        broadcaster.subscribe()
    }

    /// Whether the backend is up, its head and a short detail.
    public func health() async -> DAHealth {
        if let downReason {
            return DAHealth(isReady: false, head: currentHead, detail: "memory DA is down: \(downReason)")
        }
        return DAHealth(isReady: true, head: currentHead, detail: "memory DA is up at height \(currentHead)")
    }

    // MARK: - Test controls and inspection

    /// Takes the backend down (every call but ``health()`` and the test helpers throws `.unavailable`
    /// with `reason`) or, with `nil`, brings it back up.
    public func setDown(_ reason: String?) {
        downReason = reason
    }

    /// Appends a new height holding `blob` in `namespace`, bypassing size limits, faults and the down
    /// state: a blob someone else posted. Returns its reference.
    @discardableResult
    public func appendForeignBlob(_ blob: [UInt8], to namespace: DANamespace) -> BlobReference {
        appendHeightRaw([(namespace, blob)])[0]
    }

    /// Appends a new height holding `blobs` in the given order (indices count per namespace), bypassing
    /// size limits, faults and the down state. Returns the references in the same order.
    @discardableResult
    public func appendHeight(_ blobs: [(namespace: DANamespace, data: [UInt8])]) -> [BlobReference] {
        appendHeightRaw(blobs.map { ($0.namespace, $0.data) })
    }

    /// Appends a new height with no blobs at all. Returns the new height.
    @discardableResult
    public func appendEmptyHeight() -> UInt64 {
        appendHeightRaw([])
        return currentHead
    }

    /// Every stored blob of `namespace`, by height then index, exactly as stored: no faults, no pruning.
    public func allBlobs(of namespace: DANamespace) -> [DABlob] {
        var result: [DABlob] = []
        for height in stride(from: UInt64(1), through: currentHead, by: 1) {
            result.append(contentsOf: storedBlobs(of: namespace, at: height))
        }
        return result
    }

    /// How many `newHeights()` streams are currently registered; a stream unregisters when its
    /// consumer stops iterating or is cancelled.
    public nonisolated var subscriberCount: Int { broadcaster.subscriberCount }

    // MARK: - Internals

    private var currentHead: UInt64 { UInt64(heights.count) }

    /// The oldest readable height (1 when nothing is pruned).
    private var oldestRetained: UInt64 {
        guard let retainHeights, currentHead > UInt64(retainHeights) else { return 1 }
        return currentHead - UInt64(retainHeights) + 1
    }

    private func checkUp() throws(DAError) {
        if let downReason { throw DAError(.unavailable, "memory DA is down: \(downReason)") }
    }

    private func applyLatency() async {
        if faults.latency != .zero { try? await Task.sleep(for: faults.latency) }
    }

    private func storedBlobs(of namespace: DANamespace, at height: UInt64) -> [DABlob] {
        let stored = heights[Int(height - 1)][namespace] ?? []
        return stored.enumerated().map { index, data in
            DABlob(
                reference: BlobReference(height: height, index: UInt32(index), commitment: commitment(of: data)),
                data: data)
        }
    }

    @discardableResult
    private func appendHeightRaw(_ blobs: [(DANamespace, [UInt8])]) -> [BlobReference] {
        let height = currentHead + 1
        var contents: [DANamespace: [[UInt8]]] = [:]
        var references: [BlobReference] = []
        for (namespace, data) in blobs {
            let index = UInt32(contents[namespace, default: []].count)
            contents[namespace, default: []].append(data)
            references.append(BlobReference(height: height, index: index, commitment: commitment(of: data)))
        }
        heights.append(contents)
        broadcaster.yield(height)
        return references
    }

    private func commitment(of data: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: data))
    }
}
