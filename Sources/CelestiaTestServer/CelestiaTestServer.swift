import DSDNCelestia
import DSDNDA
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Celestia-compatible JSON-RPC server on a real socket, for tests and for trying the coordinator by
/// hand. It speaks celestia-node's wire format (see docs/celestia.md) for `blob.Submit`, `blob.Get`,
/// `blob.GetAll`, `header.LocalHead`, `header.NetworkHead`, `header.GetByHeight`,
/// `header.WaitForHeight` (bounded), `node.Ready` and `state.Balance`, produces a block every
/// ``Configuration/blockTime`` (heights start at 1; a submitted blob lands in the next block) and
/// computes share commitments like Celestia.
///
/// The same port also speaks JSON-RPC over WebSocket, as celestia-node does: an HTTP GET with
/// `Upgrade: websocket` on any path upgrades, authenticated by the upgrade request (`Authorization: Bearer`
/// or `?token=`; a wrong token is refused with HTTP 401); every message is then a request or batch answered
/// like a POST (see `WebSocketRPC`). Subscriptions are not implemented.
///
/// Faults (``CelestiaFaults``) are injected at start or while running, from Swift or through the
/// admin-only `testserver.SetFaults`, `testserver.ProduceBlock` and `testserver.ReleaseStalls` methods.
///
/// ```swift
/// let server = try await CelestiaTestServer.start(.init(blockTime: .milliseconds(20), token: "T"))
/// defer { Task { await server.stop() } }
/// print(server.url)   // http://127.0.0.1:PORT
/// ```
public final class CelestiaTestServer: Sendable {
    /// How the server runs.
    public struct Configuration: Sendable {
        /// The address to bind (default `127.0.0.1`).
        public var host: String
        /// The port to bind; 0 picks a free one (see ``CelestiaTestServer/port``).
        public var port: Int
        /// The interval between blocks. Every interval produces a block, empty or not.
        public var blockTime: Duration
        /// The admin (read + write) token. When neither token is set, every request is allowed.
        public var token: String?
        /// A read-only token (`blob.Submit` answers "missing permission … (need 'write')").
        public var readToken: String?
        /// The largest request body (celestia-node: 16 MiB).
        public var maxBodyBytes: Int
        /// The largest total blob size of one `blob.Submit` (one pay-for-blob transaction).
        public var maxBlobBytesPerSubmit: Int
        /// How long `header.WaitForHeight` (and reads of the next height) wait before answering
        /// `context deadline exceeded` (celestia-node's write timeout is 5 minutes).
        public var maxWait: Duration
        /// The chain id in headers.
        public var chainID: String
        /// The faults at start.
        public var faults: CelestiaFaults
        /// Where the server logs (Hummingbird's own logging included).
        public var logger: Logger

        /// Creates a configuration.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            blockTime: Duration = .seconds(1),
            token: String? = nil,
            readToken: String? = nil,
            maxBodyBytes: Int = 16 * 1024 * 1024,
            maxBlobBytesPerSubmit: Int = 8 * 1024 * 1024,
            maxWait: Duration = .seconds(300),
            chainID: String = "dsdn-test",
            faults: CelestiaFaults = .none,
            logger: Logger? = nil
        ) {
            precondition(blockTime > .zero, "blockTime must be positive")
            self.host = host
            self.port = port
            self.blockTime = blockTime
            self.token = token
            self.readToken = readToken
            self.maxBodyBytes = maxBodyBytes
            self.maxBlobBytesPerSubmit = maxBlobBytesPerSubmit
            self.maxWait = maxWait
            self.chainID = chainID
            self.faults = faults
            self.logger =
                logger
                ?? {
                    var logger = Logger(label: "celestia-test-server")
                    logger.logLevel = .warning
                    return logger
                }()
        }
    }

    /// An error starting the server.
    public struct StartError: Error, CustomStringConvertible, Sendable {
        /// What went wrong.
        public var description: String
    }

    /// The configuration it runs with.
    public let configuration: Configuration
    /// The bound port.
    public let port: Int
    private let chain: Chain
    private let group: ServiceGroup
    private let tasks: Mutex<(server: Task<Void, Never>?, producer: Task<Void, Never>?)>

    /// The base URL, `http://HOST:PORT`.
    public var url: String { "http://\(Self.hostForURL(configuration.host)):\(port)" }

    /// The WebSocket URL of the same port, `ws://HOST:PORT`.
    public var webSocketURL: String { "ws://\(Self.hostForURL(configuration.host)):\(port)" }

    /// A `celestia://HOST:PORT?namespace=NAME` address for ``namespace`` (no token in it).
    public func address(namespace: String) -> String {
        "celestia://\(Self.hostForURL(configuration.host)):\(port)?namespace=\(namespace)"
    }

    private init(
        configuration: Configuration, port: Int, chain: Chain, group: ServiceGroup, server: Task<Void, Never>,
        producer: Task<Void, Never>
    ) {
        self.configuration = configuration
        self.port = port
        self.chain = chain
        self.group = group
        self.tasks = Mutex((server, producer))
    }

    /// Binds, produces block 1 and starts producing blocks; returns once the socket accepts connections.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> CelestiaTestServer {
        let chain = Chain(chainID: configuration.chainID, faults: configuration.faults)
        await chain.produceBlock(atNanos: unixNanos())
        let handler = RPCHandler(chain: chain, configuration: configuration)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let failure = Mutex<String?>(nil)
        let webSocket = WebSocketRPC(handler: handler, maxMessageBytes: configuration.maxBodyBytes)
        let app = Application(
            responder: RPCResponder(handler: handler, maxBodyBytes: configuration.maxBodyBytes),
            server: .http1WebSocketUpgrade(
                configuration: WebSocketRPC.serverConfiguration(maxBodyBytes: configuration.maxBodyBytes)
            ) { request, channel, _ in
                try await webSocket.shouldUpgrade(request, channel: channel)
            },
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
            },
            logger: configuration.logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [app], logger: configuration.logger)
        // Stalled responses and waiters are released before the shutdown; this bounds anything else.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        let server = Task {
            do {
                try await group.run()
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            portContinuation.finish()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await group.triggerGracefulShutdown()
            server.cancel()
            await server.value
            let reason = failure.withLock { $0 } ?? "the server stopped before it was listening"
            throw StartError(description: "cannot listen on \(configuration.host):\(configuration.port): \(reason)")
        }
        let blockTime = configuration.blockTime
        let producer = Task {
            let clock = ContinuousClock()
            var next = clock.now.advanced(by: blockTime)
            while !Task.isCancelled {
                do { try await clock.sleep(until: next) } catch { return }
                await chain.produceBlock(atNanos: unixNanos())
                next = next.advanced(by: blockTime)
                // After a long pause (a suspended process), do not produce a burst of blocks.
                if next < clock.now { next = clock.now.advanced(by: blockTime) }
            }
        }
        return CelestiaTestServer(
            configuration: configuration, port: port, chain: chain, group: group, server: server, producer: producer)
    }

    /// Stops producing blocks, releases stalled responses and waiters, and closes the socket. Idempotent.
    public func stop() async {
        let (server, producer) = tasks.withLock { tasks in
            let current = tasks
            tasks = (nil, nil)
            return current
        }
        guard let server, let producer else { return }
        producer.cancel()
        await producer.value
        await chain.shutdown()
        await group.triggerGracefulShutdown()
        await server.value
    }

    // MARK: - Faults

    /// The current faults.
    public func faults() async -> CelestiaFaults { await chain.faults }

    /// Replaces the faults. The random-failure generator is re-seeded when the seed changes.
    public func setFaults(_ faults: CelestiaFaults) async {
        await chain.setFaults(faults, reseed: false)
    }

    /// Edits the faults in place.
    public func updateFaults(_ body: @escaping @Sendable (inout CelestiaFaults) -> Void) async {
        await chain.updateFaults(body)
    }

    /// The next `count` submits land and then time out (`mode`: stall the response, or answer
    /// `context deadline exceeded`).
    public func injectSubmitTimeouts(_ count: Int, mode: CelestiaFaults.SubmitTimeoutMode = .stall) async {
        await chain.updateFaults { faults in
            faults.submitTimeouts = count
            faults.submitTimeoutMode = mode
        }
    }

    /// The next `count` submits fail with `incorrect account sequence`.
    public func injectSequenceMismatches(_ count: Int) async {
        await chain.updateFaults { $0.sequenceMismatches = count }
    }

    /// Answers every request with HTTP 401 (empty body) while `on`.
    public func setUnauthorized(_ on: Bool) async {
        await chain.updateFaults { $0.unauthorized = on }
    }

    /// Reads below `tail` answer `requested header (H) is below Tail (T)`; `nil` serves everything.
    public func setTail(_ tail: UInt64?) async {
        await chain.updateFaults { $0.tail = tail }
    }

    /// Delays every call by `latency`.
    public func setLatency(_ latency: Duration) async {
        await chain.updateFaults { $0.latency = latency }
    }

    /// Fails `perMillion` of all calls at random, drawn from a generator seeded with `seed`.
    public func setFailureRate(perMillion: UInt64, seed: UInt64) async {
        var faults = await chain.faults
        faults.failurePerMillion = min(perMillion, CelestiaFaults.perMillion)
        faults.seed = seed
        await chain.setFaults(faults, reseed: true)
    }

    /// Lets every stalled submit response go now.
    public func releaseStalledResponses() async { await chain.releaseStalls() }

    /// How many submit responses are stalled right now.
    public func stalledResponses() async -> Int { await chain.stalledCount }

    // MARK: - Chain control and inspection

    /// The newest height.
    public func head() async -> UInt64 { await chain.head }

    /// Produces a block now (in addition to the timer) and returns its height.
    @discardableResult
    public func produceBlock() async -> UInt64 { await chain.produceBlock(atNanos: unixNanos()) }

    /// Adds a transaction of blobs someone else posted; they land in the next block. Bypasses faults.
    public func postForeign(_ blobs: [(namespace: DANamespace, data: [UInt8])]) async {
        _ = await chain.enqueue(blobs.map { ($0.namespace, $0.data, ShareCommitment.compute(namespace: $0.namespace, data: $0.data)) })
    }

    /// Every stored blob (of `namespace`, or of all namespaces), by height then share order.
    public func storedBlobs(of namespace: DANamespace? = nil) async -> [CelestiaStoredBlob] {
        await chain.storedBlobs(of: namespace)
    }

    /// What the server did so far.
    public func statistics() async -> CelestiaServerStatistics { await chain.statistics }

    /// Waits until `height` exists (at most `timeout`); returns whether it does.
    public func waitForHeight(_ height: UInt64, timeout: Duration = .seconds(30)) async -> Bool {
        await chain.waitForHeight(height, timeout: timeout)
    }

    private static func hostForURL(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }
}

/// The Hummingbird responder: every path and method go to the JSON-RPC handler, like go-jsonrpc's
/// HTTP handler.
struct RPCResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let handler: RPCHandler
    let maxBodyBytes: Int

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var body: [UInt8]?
        var tooLarge = false
        do {
            let buffer = try await request.body.collect(upTo: maxBodyBytes)
            body = Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            tooLarge = true
        }
        let authorization = request.headers[.authorization]
        let queryToken = request.uri.queryParameters["token"].map(String.init)
        let answer = await handler.handle(body: body, bodyTooLarge: tooLarge, authorization: authorization, queryToken: queryToken)
        var headers = HTTPFields()
        if !answer.body.isEmpty { headers[.contentType] = "application/json" }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: headers,
            body: answer.body.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
