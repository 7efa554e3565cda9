import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNScheduler

/// Everything a running coordinator is configured with. The command line builds it; tests build it
/// directly.
public struct CoordinatorConfiguration: Sendable {
    /// The coordinator's own directory: the durable outbox, the lock, the publisher id.
    public var dataDirectory: String
    /// The namespace followed and published to.
    public var namespace: DANamespace
    /// This coordinator's publisher id (unique per coordinator; it names every blob it publishes).
    public var publisherID: String
    /// The policy published and activated for placement when the namespace's policy registry is empty
    /// (a first start); `nil` publishes none. Decisions always use the version the registry has active
    /// at their snapshot, never this value directly.
    public var defaultPolicy: Policy?
    /// Whether this coordinator runs the scheduling loop.
    public var placesReplicas: Bool
    /// The coordinator and Lua release, recorded in every placement's provenance.
    public var engine: String
    /// A history published once when the namespace holds nothing yet (a first start), and where it
    /// came from (for the log).
    public var seed: (events: [Event], source: String)?
    /// Publisher tuning (batching, size cap, backlog, retries).
    public var publisher: EventPublisher.Options
    /// Consumer tuning (backoff, polling).
    public var consumer: DAConsumer.Options
    /// Scheduling loop tuning.
    public var scheduling: SchedulingOptions
    /// HTTP API settings.
    public var api: APIConfiguration
    /// How long a graceful stop waits for the final flush before leaving the rest in the outbox.
    public var finalFlushTimeout: Duration = .seconds(30)

    /// Creates a configuration with the documented defaults.
    public init(
        dataDirectory: String,
        namespace: DANamespace,
        publisherID: String,
        defaultPolicy: Policy? = nil,
        placesReplicas: Bool = true,
        engine: String = "dsdn-coordinator; \(Scheduler.luaRelease)",
        seed: (events: [Event], source: String)? = nil,
        publisher: EventPublisher.Options = EventPublisher.Options(),
        consumer: DAConsumer.Options = DAConsumer.Options(),
        scheduling: SchedulingOptions = SchedulingOptions(),
        api: APIConfiguration = APIConfiguration()
    ) {
        self.dataDirectory = dataDirectory
        self.namespace = namespace
        self.publisherID = publisherID
        self.defaultPolicy = defaultPolicy
        self.placesReplicas = placesReplicas
        self.engine = engine
        self.seed = seed
        self.publisher = publisher
        self.consumer = consumer
        self.scheduling = scheduling
        self.api = api
    }
}

/// How the scheduling loop places replicas.
public struct SchedulingOptions: Sendable, Hashable {
    /// Chunks placed per round at most (a round runs after each applied height).
    public var maxChunksPerRound: Int
    /// Whether placements wait until the consumer has caught up with the DA head (always true in
    /// production: a coordinator behind the head would place from stale state).
    public var onlyWhenCaughtUp: Bool
    /// Coordinators that had a blob of placements applied within this many heights count as active: each
    /// chunk has a preferred one among them (and this one), by rendezvous hashing of the chunk and the ids.
    public var membershipWindow: UInt64
    /// A coordinator of rank r for a chunk (0 is the preferred one) places it only after the chunk has
    /// waited r × this long: the preferred one places at once, the others only what it leaves undone
    /// (it went away, or it publishes without placing).
    public var deferral: Duration
    /// A round also runs this often without a new height, so deferred chunks of a coordinator that went
    /// away are placed even when the DA is quiet.
    public var tickInterval: Duration

    /// Creates options. Defaults: 256 chunks per round, only when caught up, a 1,000-height membership
    /// window, 10 s of deferral per rank, a round at least every 2 s.
    public init(
        maxChunksPerRound: Int = 256, onlyWhenCaughtUp: Bool = true, membershipWindow: UInt64 = 1_000,
        deferral: Duration = .seconds(10), tickInterval: Duration = .seconds(2)
    ) {
        self.maxChunksPerRound = max(1, maxChunksPerRound)
        self.onlyWhenCaughtUp = onlyWhenCaughtUp
        self.membershipWindow = max(1, membershipWindow)
        self.deferral = max(.zero, deferral)
        self.tickInterval = tickInterval
    }
}

/// Where and how the HTTP API listens.
public struct APIConfiguration: Sendable, Hashable {
    /// The default port.
    public static let defaultPort = 45831

    /// The address to bind (loopback by default).
    public var host: String
    /// The port (0 picks a free one; the bound port is reported once listening).
    public var port: Int
    /// The bearer token `POST /v1/events` requires; `nil` refuses every event submission.
    public var token: String?
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes: Int
    /// The most events one `POST /v1/events` may carry.
    public var maxEventsPerRequest: Int
    /// How long a connection may stay without reading or writing before it is closed.
    public var idleTimeout: Duration
    /// The most open connections; beyond it new ones wait in the listen backlog until one closes.
    public var maxConnections: Int
    /// Previews evaluated at once (each holds a policy evaluator thread).
    public var previewConcurrency: Int
    /// Previews waiting for an evaluator at most; beyond it a preview is answered 429.
    public var maxQueuedPreviews: Int
    /// Previews one client (by remote address) may have running or waiting at once.
    public var maxPreviewsPerClient: Int
    /// Event submissions (`POST /v1/events`, authenticated or not) one client may make per second on
    /// average; beyond it a submission is answered 429.
    public var submissionsPerSecond: Double
    /// Event submissions one client may make at once after being idle.
    public var submissionBurst: Int
    /// Paths no response body may show, each with the label shown instead (`DA_LOG` for the file log);
    /// the data directory is always hidden as `DATA_DIR`. Lookup only.
    public var hiddenPaths: [String: String] = [:]

    /// Creates settings. Defaults: 127.0.0.1:45831, no token, 1 MiB bodies, 1,000 events per request,
    /// 30 s idle timeout, 512 connections, 1 preview evaluated at once with 16 waiting, 2 per client,
    /// 20 submissions per second per client with bursts of 40.
    public init(
        host: String = "127.0.0.1", port: Int = APIConfiguration.defaultPort, token: String? = nil,
        maxBodyBytes: Int = 1 << 20, maxEventsPerRequest: Int = 1_000, idleTimeout: Duration = .seconds(30),
        maxConnections: Int = 512, previewConcurrency: Int = 1, maxQueuedPreviews: Int = 16, maxPreviewsPerClient: Int = 2,
        submissionsPerSecond: Double = 20, submissionBurst: Int = 40
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.maxEventsPerRequest = maxEventsPerRequest
        self.idleTimeout = idleTimeout
        self.maxConnections = max(1, maxConnections)
        self.previewConcurrency = max(1, previewConcurrency)
        self.maxQueuedPreviews = max(0, maxQueuedPreviews)
        self.maxPreviewsPerClient = max(1, maxPreviewsPerClient)
        self.submissionsPerSecond = submissionsPerSecond > 0 ? submissionsPerSecond : 20
        self.submissionBurst = max(1, submissionBurst)
    }
}
