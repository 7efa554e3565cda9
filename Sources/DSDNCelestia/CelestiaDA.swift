import AsyncHTTPClient
import DSDNCore
import DSDNDA
import DSDNJSON
import Logging
import Synchronization

/// The Celestia DA backend: a JSON-RPC 2.0 client of a celestia-node (light, full or bridge) over HTTP.
///
/// **Reads** (`blobs(of:at:)`) wait for the height's header only when it is the one right after the
/// known head (`header.WaitForHeight`, bounded by ``CelestiaOptions/heightWaitTimeout``), then call
/// `blob.GetAll(height, [namespace])`; `null` is an empty height. "from the future" is
/// `.heightFromFuture`, "below Tail" is `.pruned` (the node's message, with the tail, is kept).
/// Blob indices are positions among the namespace's blobs at the height, in share order.
///
/// **Writes** (`submit(_:to:)`) are checked first (size cap, non-empty), get a locally computed share
/// commitment, and go out one at a time, **once**: the backend does not retry a submit. A failure is
/// classified: auth, permission and "no state access" failures say what to fix; a failure after which
/// the blob may still land (client timeout, lost connection, `context deadline exceeded`, `tx already in
/// mempool`, unknown errors) is `.unavailable` and says so. Recovering such an ambiguous submit (wait
/// for a block, look for the commitment, resubmit only if it is not there) is the caller's job: the
/// runtime's `EventPublisher` owns it (docs/architecture.md), with the backend's
/// ``commitmentScheme``.
///
/// **Lifecycle.** The backend owns an `HTTPClient`; call ``close()`` (or ``shutdown()``) when done.
/// (Deinitialising an open backend shuts the client down in the background.)
public actor CelestiaDA: DALayer {
    /// Operational counters (the caller counts errors; these show what the write path did).
    public struct Counters: Sendable, Hashable {
        /// `blob.Submit` calls sent.
        public var submitCalls: UInt64 = 0
        /// Blobs included by a successful `blob.Submit`.
        public var submitted: UInt64 = 0
        /// `blob.Submit` calls that failed in a way that may still land the blob.
        public var ambiguousFailures: UInt64 = 0

        /// Zero counters.
        public init() {}
    }

    /// The node's address, namespace and options (no token).
    public nonisolated let address: CelestiaAddress
    /// Tuning (also in ``address``).
    public nonisolated var options: CelestiaOptions { address.options }
    /// The namespace of the address.
    public nonisolated var namespace: DANamespace { address.namespace }

    /// What the write path did so far.
    public private(set) var counters = Counters()

    private nonisolated let transport: RPCTransport
    private nonisolated let classifier: ErrorClassifier
    private nonisolated let logger: Logger
    private nonisolated let heads: HeadAnnouncer
    private nonisolated let poller: HeadPoller
    private nonisolated let closed = Atomic<Bool>(false)

    private var knownHead: UInt64 = 0
    /// When ``knownHead`` was last confirmed by the node.
    /// One submit at a time, in arrival order.
    private let submitLock = AsyncLock()

    /// Where auth failures tell the operator to look: `--token-file / CELESTIA_AUTH_TOKEN`.
    public static let defaultCredentialsHint = "--token-file / \(CelestiaAuthToken.environmentVariable)"

    /// Creates a backend for `address`. Nothing is sent until the first call.
    ///
    /// - Parameters:
    ///   - address: Where the node is, the namespace and the options.
    ///   - token: The auth token (see ``CelestiaAuthToken/resolve(tokenFile:environment:)``); `nil` sends
    ///     no `Authorization` header.
    ///   - credentialsHint: Where auth-failure messages tell the operator to set the token (e.g. the
    ///     command-line option the token file is given with).
    ///   - logger: Where to log (debug: calls; warning: ambiguous failures). The token is never logged.
    public init(
        address: CelestiaAddress, token: CelestiaAuthToken?, credentialsHint: String = CelestiaDA.defaultCredentialsHint,
        logger: Logger = Logger(label: "dsdn.celestia")
    ) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        configuration.decompression = .disabled
        // Fail a call at once when the node refuses connections (the callers back off and retry), rather
        // than retrying inside the client until the connect timeout: "cannot reach" is reported promptly.
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let transport = RPCTransport(
            http: http, url: address.rpcURL, endpoint: address.endpoint, token: token,
            maxResponseBytes: address.options.maxResponseBytes, logger: logger)
        self.address = address
        self.transport = transport
        self.classifier = ErrorClassifier(endpoint: address.endpoint, hasToken: token != nil, credentialsHint: credentialsHint)
        self.logger = logger
        let heads = HeadAnnouncer()
        self.heads = heads
        self.poller = HeadPoller(
            transport: transport,
            method: address.options.headSource == .local ? "header.LocalHead" : "header.NetworkHead",
            interval: address.options.pollInterval,
            timeout: address.options.requestTimeout,
            heads: heads)
    }

    /// Parses `address` (see ``CelestiaAddress``) and creates a backend.
    public init(parsing address: String, token: CelestiaAuthToken?, logger: Logger = Logger(label: "dsdn.celestia")) throws(DAError) {
        self.init(address: try CelestiaAddress(parsing: address), token: token, logger: logger)
    }

    deinit {
        poller.stop()
        heads.finish()
        if !closed.exchange(true, ordering: .acquiringAndReleasing) {
            transport.http.shutdown { _ in }
        }
    }

    /// `celestia://HOST:PORT?namespace=NAME` — never the token.
    public nonisolated var redacted: String { address.redacted }

    /// Stops polling, ends every `newHeights()` stream and shuts the HTTP client down. Idempotent; later
    /// calls throw `.unavailable`.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        poller.stop()
        heads.finish()
        do {
            try await transport.http.shutdown()
        } catch {
            logger.debug("celestia http client shutdown", metadata: ["error": "\(error)"])
        }
    }

    /// Same as ``close()``.
    public func shutdown() async { await close() }

    /// Closes without waiting, for synchronous cleanup paths (a `defer` in a command): stops polling,
    /// ends the `newHeights()` streams, refuses later calls and shuts the HTTP client down in the
    /// background. Idempotent, and a no-op after ``close()``.
    public nonisolated func beginClose() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        poller.stop()
        heads.finish()
        transport.http.shutdown { _ in }
    }

    // MARK: - DALayer: reads

    /// The blobs of `namespace` at `height`, in share order, indexed 0, 1, … among the namespace's blobs.
    ///
    /// Throws `.invalidRequest` for height 0, `.heightFromFuture` beyond the head (after waiting up to
    /// ``CelestiaOptions/heightWaitTimeout`` for the next height), `.pruned` below the node's tail,
    /// `.unauthorized` for token problems and `.unavailable` for transient failures.
    public func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        try checkOpen()
        return try await fetchBlobs(of: namespace, at: height)
    }

    /// The head height (`header.LocalHead` by default, `header.NetworkHead` with `head=network`).
    public func head() async throws(DAError) -> UInt64 {
        try checkOpen()
        return try await currentHead()
    }

    /// A wake-up stream: the head is polled every ``CelestiaOptions/pollInterval`` and each new head is
    /// yielded (heights in between are not; readers keep their own cursor). Ends on ``close()``.
    public nonisolated func newHeights() -> AsyncStream<UInt64> {
        let stream = heads.subscribe()
        if !closed.load(ordering: .acquiring) { poller.start() }
        return stream
    }

    /// Celestia's share commitment of the blob in its namespace (`ShareCommitment`).
    public nonisolated var commitmentScheme: CommitmentScheme { .celestiaShare }

    /// `node.Ready` and the head. Never throws: failures are reported in `detail`.
    public func health() async -> DAHealth {
        guard !closed.load(ordering: .acquiring) else {
            return DAHealth(
                isReady: false, head: knownHead == 0 ? nil : knownHead, detail: "celestia backend for \(address.endpoint) is closed")
        }
        do throws(DAError) {
            let ready = try await call("node.Ready", [], as: Bool.self) ?? false
            let head = try await currentHead()
            return DAHealth(
                isReady: ready, head: head,
                detail: ready
                    ? "celestia node at \(address.endpoint) is ready at height \(head)"
                    : "celestia node at \(address.endpoint) reports it is not ready (height \(head))")
        } catch {
            return DAHealth(isReady: false, head: knownHead == 0 ? nil : knownHead, detail: error.message)
        }
    }

    /// The signing account's balance (`state.Balance`).
    public func balance() async throws(DAError) -> CelestiaBalance {
        try checkOpen()
        guard let balance = try await call("state.Balance", [], as: CelestiaBalance.self) else {
            throw DAError(.unavailable, "celestia node at \(address.endpoint) returned no balance")
        }
        return balance
    }

    /// The namespace's genesis height (the address's `from-height`, 1 by default).
    public nonisolated var firstHeight: UInt64 { address.options.fromHeight }

    // MARK: - DALayer: writes

    /// Submits `blob` to `namespace` and returns where it landed (height, index among the namespace's
    /// blobs there, share commitment). See the type's documentation for the retry and idempotence rules.
    ///
    /// Throws `.blobTooLarge` above ``CelestiaOptions/maxBlobBytes`` (nothing is sent),
    /// `.invalidRequest` for an empty blob, `.unauthorized` for token, permission and state-access
    /// problems, and `.unavailable` for a transient failure, whose message says when the blob may still
    /// land (then look for its commitment before submitting it again).
    public func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        try checkOpen()
        guard !blob.isEmpty else {
            throw DAError(.invalidRequest, "Celestia cannot store an empty blob")
        }
        guard blob.count <= options.maxBlobBytes else {
            throw DAError(
                .blobTooLarge,
                "blob of \(blob.count) bytes exceeds the \(options.maxBlobBytes)-byte cap (max-blob-bytes); split the batch")
        }
        let commitment = celestiaCommitment(namespace: namespace, data: blob)
        await submitLock.acquire()
        defer { submitLock.release() }
        try checkOpen()
        return try await submitOnce(blob, to: namespace, commitment: commitment)
    }

    // MARK: - Write path

    /// One `blob.Submit`, classified, then the blob located at the height it landed at.
    private func submitOnce(_ blob: [UInt8], to namespace: DANamespace, commitment: [UInt8]) async throws(DAError) -> BlobReference {
        counters.submitCalls += 1
        let height: UInt64
        do {
            height = try await callSubmit(blob, to: namespace, commitment: commitment)
        } catch {
            let classified = classifier.classify(error, method: "blob.Submit")
            guard classified.ambiguous else { throw classified.error }
            counters.ambiguousFailures += 1
            logger.warning(
                "ambiguous blob.Submit failure",
                metadata: [
                    "node": "\(address.endpoint)", "error": "\(classified.error.message)",
                ])
            throw DAError(
                .unavailable,
                classified.error.message + "; the blob may still land, so look for its share commitment before submitting it again")
        }
        counters.submitted += 1
        // The height comes from the consensus node; a light node can be a few heights behind it, so the
        // blob is read only once this node's own head reached that height (locate waits for it).
        return try await locate(blob, in: namespace, commitment: commitment, at: height)
    }

    private func callSubmit(_ blob: [UInt8], to namespace: DANamespace, commitment: [UInt8]) async throws(CallFailure) -> UInt64 {
        let blobJSON: JSONValue = .object([
            "namespace": .string(Base64.encode(namespace.bytes)),
            "data": .string(Base64.encode(blob)),
            "share_version": .int(0),
            "commitment": .string(Base64.encode(commitment)),
        ])
        let result = try await transport.call(
            "blob.Submit", [.array([blobJSON]), options.tx.json], timeout: options.submitTimeout, as: LenientUInt64.self)
        guard let height = result?.value, height > 0 else {
            throw .malformed("blob.Submit returned no height")
        }
        return height
    }

    /// Finds the just-included blob at `height` to learn its index (a few reads). When that fails the
    /// blob is on chain but unlocated: `.unavailable` says so, and a caller's search by commitment finds it.
    private func locate(_ blob: [UInt8], in namespace: DANamespace, commitment: [UInt8], at height: UInt64) async throws(DAError)
        -> BlobReference
    {
        var lastError = DAError(.unavailable, "no read attempted")
        if height > knownHead {
            do throws(DAError) {
                _ = try await waitForHeight(height, timeout: options.heightWaitTimeout)
            } catch {
                throw DAError(
                    .unavailable,
                    "the blob landed at height \(height) but celestia node at \(address.endpoint) did not reach that height (\(error.message)); look for its share commitment there before submitting it again"
                )
            }
        }
        for attempt in 1...3 {
            do throws(DAError) {
                let blobs = try await fetchBlobs(of: namespace, at: height)
                if let match = blobs.first(where: { $0.reference.commitment == commitment || $0.data == blob }) {
                    return match.reference
                }
                lastError = DAError(
                    .unavailable,
                    "blob.Submit reported height \(height), but the blob is not among the namespace's \(blobs.count) blob(s) there")
                break
            } catch {
                lastError = error
                guard error.isRetryable, attempt < 3 else { break }
                try await backoff(attempt: attempt, error: error)
            }
        }
        throw DAError(
            .unavailable,
            "the blob landed at height \(height) but its index could not be read (\(lastError.message)); look for its share commitment there before submitting it again"
        )
    }

    private func backoff(attempt: Int, error: DAError) async throws(DAError) {
        var delay = options.retryBackoffInitial
        var step = 1
        while step < attempt && delay < options.retryBackoffMaximum {
            delay = delay * 2
            step += 1
        }
        do {
            try await Task.sleep(for: min(delay, options.retryBackoffMaximum))
        } catch _ {
            throw DAError(error.code, error.message + " (cancelled while backing off)")
        }
        try checkOpen()
    }

    // MARK: - Read path

    private func fetchBlobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        guard height > 0 else { throw DAError(.invalidRequest, "height 0 does not exist; Celestia heights start at 1") }
        if height > knownHead { _ = try await currentHead() }
        if height > knownHead + 1 {
            throw DAError(.heightFromFuture, "height \(height) is beyond the head \(knownHead) of celestia node at \(address.endpoint)")
        }
        if height == knownHead + 1 {
            _ = try await waitForHeight(height, timeout: options.heightWaitTimeout)
        }
        let result: [RPCBlob]?
        do {
            result = try await transport.call(
                "blob.GetAll", [.uint(height), .array([.string(Base64.encode(namespace.bytes))])],
                timeout: options.requestTimeout, as: [RPCBlob].self)
        } catch {
            if case let .rpc(_, message) = error, message.contains("blob: not found") { return [] }
            throw classifier.classify(error, method: "blob.GetAll").error
        }
        return try convert(result ?? [], namespace: namespace, height: height)
    }

    private func convert(_ blobs: [RPCBlob], namespace: DANamespace, height: UInt64) throws(DAError) -> [DABlob] {
        var decoded: [(order: Int, data: [UInt8], commitment: [UInt8])] = []
        decoded.reserveCapacity(blobs.count)
        for (position, blob) in blobs.enumerated() {
            guard let namespaceBytes = Base64.decode(blob.namespace), let data = Base64.decode(blob.data) else {
                throw DAError(
                    .unavailable, "celestia node at \(address.endpoint) returned a blob at height \(height) that is not valid base64")
            }
            // The node filters by namespace; anything else is not ours to index.
            guard namespaceBytes == namespace.bytes else { continue }
            let commitment = blob.commitment.flatMap(Base64.decode) ?? celestiaCommitment(namespace: namespace, data: data)
            let order = blob.index.flatMap { $0 >= 0 ? $0 : nil } ?? -1
            decoded.append((order < 0 ? position : order, data, commitment))
        }
        // Share order when the node reports share indices; the node's order otherwise.
        if decoded.allSatisfy({ $0.order >= 0 }) {
            decoded = decoded.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.element)
        }
        return decoded.enumerated().map { index, blob in
            DABlob(reference: BlobReference(height: height, index: UInt32(index), commitment: blob.commitment), data: blob.data)
        }
    }

    /// Reads the head and raises the cached head.
    private func currentHead() async throws(DAError) -> UInt64 {
        let method = options.headSource == .local ? "header.LocalHead" : "header.NetworkHead"
        guard let header = try await call(method, [], as: RPCHeader.self) else {
            throw DAError(.unavailable, "celestia node at \(address.endpoint) returned no header for \(method)")
        }
        noteHead(header.height)
        return header.height
    }

    /// `header.WaitForHeight` bounded by `timeout`; a timeout is `.heightFromFuture`.
    private func waitForHeight(_ height: UInt64, timeout: Duration) async throws(DAError) -> UInt64 {
        do {
            let header = try await transport.call("header.WaitForHeight", [.uint(height)], timeout: timeout, as: RPCHeader.self)
            let reached = header?.height ?? height
            noteHead(reached)
            return reached
        } catch {
            if case .timedOut = error {
                throw DAError(
                    .heightFromFuture,
                    "height \(height) did not appear on celestia node at \(address.endpoint) within \(ErrorClassifier.seconds(timeout))")
            }
            throw classifier.classify(error, method: "header.WaitForHeight").error
        }
    }

    private func noteHead(_ height: UInt64) {
        if height > knownHead {
            knownHead = height
            heads.announce(height)
        }
    }

    private func call<R: Decodable & Sendable>(_ method: String, _ params: [JSONValue], as type: R.Type) async throws(DAError) -> R? {
        do {
            return try await transport.call(method, params, timeout: options.requestTimeout, as: type)
        } catch {
            throw classifier.classify(error, method: method).error
        }
    }

    private nonisolated func checkOpen() throws(DAError) {
        if closed.load(ordering: .acquiring) {
            throw DAError(.unavailable, "celestia backend for \(address.endpoint) is closed")
        }
    }
}

/// A `state.Balance` answer.
public struct CelestiaBalance: Sendable, Hashable, Decodable {
    /// The denomination, `utia`.
    public var denom: String
    /// The amount as the node wrote it (a decimal string).
    public var amount: String
}

/// One blob as celestia-node writes it.
struct RPCBlob: Decodable, Sendable {
    var namespace: String
    var data: String
    var shareVersion: Int?
    var commitment: String?
    var index: Int?

    enum CodingKeys: String, CodingKey {
        case namespace, data, commitment, index
        case shareVersion = "share_version"
    }
}

/// The part of an ExtendedHeader the backend needs: `header.height` (a string on the wire).
struct RPCHeader: Decodable, Sendable {
    struct Inner: Decodable, Sendable {
        var height: LenientUInt64
    }

    var header: Inner
    var height: UInt64 { header.height.value }
}

/// Polls the head for ``CelestiaDA/newHeights()`` and yields each new head. Started on the first
/// subscription, stopped by `close()` or deinit.
final class HeadPoller: Sendable {
    private let transport: RPCTransport
    private let method: String
    private let interval: Duration
    private let timeout: Duration
    private let heads: HeadAnnouncer
    private let task = Mutex<(task: Task<Void, Never>?, stopped: Bool)>((nil, false))

    init(transport: RPCTransport, method: String, interval: Duration, timeout: Duration, heads: HeadAnnouncer) {
        self.transport = transport
        self.method = method
        self.interval = interval
        self.timeout = timeout
        self.heads = heads
    }

    func start() {
        task.withLock { state in
            guard state.task == nil, !state.stopped else { return }
            let (transport, method, interval, timeout, heads) = (self.transport, self.method, self.interval, self.timeout, self.heads)
            state.task = Task {
                while !Task.isCancelled {
                    if let header = try? await transport.call(method, [], timeout: timeout, as: RPCHeader.self) {
                        heads.announce(header.height)
                    }
                    do { try await Task.sleep(for: interval) } catch { return }
                }
            }
        }
    }

    func stop() {
        let running = task.withLock { state in
            state.stopped = true
            let running = state.task
            state.task = nil
            return running
        }
        running?.cancel()
    }
}

/// Fans new heads out to `newHeights()` subscribers, strictly increasing whichever path (the poller
/// or a call's answer) saw them first.
final class HeadAnnouncer: Sendable {
    private let broadcaster = HeightBroadcaster()
    private let last = Mutex<UInt64>(0)

    func subscribe() -> AsyncStream<UInt64> { broadcaster.subscribe() }

    func announce(_ height: UInt64) {
        last.withLock { last in
            guard height > last else { return }
            last = height
            broadcaster.yield(height)
        }
    }

    func finish() { broadcaster.finishAll() }
}

extension CommitmentScheme {
    /// Celestia's share commitment (docs/celestia.md §11): the commitment ``CelestiaDA``
    /// names for its blobs.
    public static let celestiaShare = CommitmentScheme(name: "celestia-share") { namespace, data in
        ShareCommitment.compute(namespace: namespace, data: data)
    }
}

/// The share commitment of `data` in `namespace` (docs/celestia.md §11).
func celestiaCommitment(namespace: DANamespace, data: [UInt8]) -> [UInt8] {
    ShareCommitment.compute(namespace: namespace, data: data)
}
