import ArgumentParser
import DSDNCore
import DSDNDA
import DSDNPolicyPack
import DSDNRuntime
import DSDNScheduler
import DSDNService
import Foundation
import Logging
import ServiceLifecycle

/// `dsdn-coordinator serve`: run the coordinator (consumer, publisher with its durable outbox, scheduling
/// loop, HTTP API) until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the coordinator: follow the DA, place replicas, serve the HTTP API.",
        discussion: """
            Follows the DA from its first height, applies every blob, places replicas of under-replicated
            chunks with --policy and publishes them, and serves the HTTP API (docs/operations.md). Events
            posted to the API are durable in the outbox under --data-dir before they are acknowledged.
            SIGTERM or SIGINT flush what is pending and exit cleanly.

            The API token comes from --token-file, else the DSDN_API_TOKEN environment variable, else a
            random token written to DATA_DIR/api-token on first start.

            Examples:
              dsdn-coordinator serve
              dsdn-coordinator serve --data-dir /var/lib/dsdn --da file:/var/lib/dsdn/da --listen 0.0.0.0:45831
              dsdn-coordinator serve --seed examples/small-cluster.jsonl --policy policies/zone-spread.lua
            """
    )

    @OptionGroup var da: DAOptions

    @Option(help: "The coordinator's own directory (outbox, lock, publisher id, API token).")
    var dataDir: String = ".dsdn"

    @Option(help: "Where the HTTP API listens, HOST:PORT (port 0 picks a free port).")
    var listen: String = "127.0.0.1:\(APIConfiguration.defaultPort)"

    @Option(help: "A file holding the API bearer token.")
    var tokenFile: String?

    @Option(
        help: ArgumentHelp(
            "The policy published and activated on a first start, when the namespace has none yet: a pack name or a Lua file.",
            discussion: "Later starts decide with whatever the namespace has active; change it with `policy publish` and `policy activate`."
        ))
    var policy: String = PolicyPack.defaultName

    @Flag(help: "Place nothing and publish no policy (no scheduling loop).")
    var noPolicy = false

    @Option(help: "This coordinator's publisher id (default: generated once and kept in DATA_DIR/publisher-id).")
    var publisherID: String?

    @Option(help: "Events per published blob.")
    var batchEvents: Int = 100

    @Option(help: "Milliseconds between flushes of a partial batch.")
    var batchIntervalMs: Int = 5_000

    @Option(help: "The largest blob published, in bytes (larger batches are split).")
    var maxBlobBytes: Int = 2 * 1024 * 1024

    @Option(help: "Events accepted and not yet on the DA beyond which submissions get 503 (backpressure).")
    var maxBacklog: Int = 10_000

    @Option(help: "Event submissions (POST /v1/events) one client address may make per second; beyond it, 429.")
    var submissionRate: Double = 20

    @Option(help: "Event submissions one client address may make at once after being idle.")
    var submissionBurst: Int = 40

    @Option(help: "A JSON Lines history published once when the DA namespace is empty (a first start).")
    var seed: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard parseListen() != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen.debugDescription)") }
        guard (1...10_000).contains(batchEvents) else { throw ValidationError("--batch-events must be from 1 to 10000") }
        guard batchIntervalMs >= 10 else { throw ValidationError("--batch-interval-ms must be at least 10") }
        guard (1_024...Limits.maxBlobBytes).contains(maxBlobBytes) else {
            throw ValidationError("--max-blob-bytes must be from 1024 to \(Limits.maxBlobBytes)")
        }
        guard maxBacklog >= 1 else { throw ValidationError("--max-backlog must be at least 1") }
        guard submissionRate.isFinite, submissionRate > 0, submissionRate <= 1_000_000 else {
            throw ValidationError("--submission-rate must be a number above 0 and at most 1000000")
        }
        guard (1...1_000_000).contains(submissionBurst) else { throw ValidationError("--submission-burst must be from 1 to 1000000") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
        if let publisherID { try validateIdentifier(publisherID, "--publisher-id") }
        if noPolicy && policy != PolicyPack.defaultName {
            throw ValidationError("--no-policy publishes no policy: drop --policy \(policy), or drop --no-policy")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "dsdn.coordinator")
        // A file that reaches the file-size limit is an I/O error to report (EFBIG), not a signal that
        // kills the coordinator.
        signal(SIGXFSZ, SIG_IGN)
        guard let (host, port) = parseListen() else { throw CommandFailure("--listen must be HOST:PORT") }
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let token = try resolveToken()
        let publisherID = try resolvePublisherID()
        let defaultPolicy = noPolicy ? nil : try loadPolicy(nameOrPath: policy)
        let seedEvents = try seed.map { (events: try HistoryInput(path: $0).events.map(\.event), source: $0) }
        let log = try da.openForService()
        defer { log.close() }
        let configuration = CoordinatorConfiguration(
            dataDirectory: dataDir, namespace: da.daNamespace, publisherID: publisherID, defaultPolicy: defaultPolicy,
            placesReplicas: !noPolicy, engine: "dsdn-coordinator \(Coordinator.version); \(Scheduler.luaRelease)", seed: seedEvents,
            publisher: EventPublisher.Options(
                batchSize: batchEvents, flushInterval: .milliseconds(batchIntervalMs), maxBlobBytes: maxBlobBytes,
                landingTimeout: da.landingTimeout, maxBacklog: maxBacklog),
            api: apiConfiguration(host: host, port: port, token: token.value))
        let node: CoordinatorNode
        do {
            node = try CoordinatorNode(configuration: configuration, da: log.layer, logger: logger)
        } catch {
            throw CommandFailure(error.message)
        }
        let tokenNote = token.source
        let application = CoordinatorAPI.application(node: node, logger: logger) { boundPort in
            // One line on standard output, for people and for scripts that wait for it.
            let line = "dsdn-coordinator: API listening on http://\(host):\(boundPort) (token: \(tokenNote))\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        let group = node.serviceGroup(with: [application], gracefulShutdownSignals: [.sigterm, .sigint])
        do {
            try await group.run()
        } catch {
            throw CommandFailure("coordinator stopped: \(describeFailure(error))")
        }
        if node.phase == .failed {
            throw CommandFailure("coordinator stopped: \(node.failure ?? "unknown failure")")
        }
    }

    private func parseListen() -> (String, Int)? {
        guard let colon = listen.lastIndex(of: ":") else { return nil }
        let host = String(listen[..<colon])
        guard !host.isEmpty, let port = Int(listen[listen.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        return (host, port)
    }

    /// The API settings: the file log's directory is never shown in a response body (`DA_LOG`).
    private func apiConfiguration(host: String, port: Int, token: String?) -> APIConfiguration {
        var api = APIConfiguration(
            host: host, port: port, token: token, submissionsPerSecond: submissionRate, submissionBurst: submissionBurst)
        if let directory = try? da.directory() { api.hiddenPaths[directory] = "DA_LOG" }
        return api
    }

    private func resolveToken() throws -> (value: String, source: String) {
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile),
                let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
            else {
                throw CommandFailure("--token-file \(tokenFile): cannot read a non-empty token")
            }
            return (text, "from \(tokenFile)")
        }
        if let text = ProcessInfo.processInfo.environment["DSDN_API_TOKEN"], !text.isEmpty {
            return (text, "from DSDN_API_TOKEN")
        }
        let path = (dataDir as NSString).appendingPathComponent("api-token")
        if let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
        {
            return (text, "in \(path)")
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw CommandFailure("cannot write the API token to \(path)")
        }
        return (token, "in \(path)")
    }

    private func resolvePublisherID() throws -> String {
        if let publisherID { return publisherID }
        let path = (dataDir as NSString).appendingPathComponent("publisher-id")
        if let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
        {
            try validateIdentifier(text, path)
            return text
        }
        var generator = SystemRandomNumberGenerator()
        let id = "coordinator-" + (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((id + "\n").utf8)) else {
            throw CommandFailure("cannot write the publisher id to \(path)")
        }
        return id
    }
}

func validateIdentifier(_ value: String, _ what: String) throws {
    do {
        try Validation.identifier(value, field: what)
    } catch {
        throw ValidationError(error.message)
    }
}

func describeFailure(_ error: any Error) -> String {
    if let error = error as? RuntimeError { return error.description }
    if let error = error as? CommandFailure { return error.description }
    return "\(error)"
}
