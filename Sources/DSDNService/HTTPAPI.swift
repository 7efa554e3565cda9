import DSDNAPI
import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNRuntime
import DSDNScheduler
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The coordinator's HTTP API (docs/operations.md §API). Every response body is JSON (except
/// `/metrics`); every error is `{"error":{"code":"…","message":"…"}}` with a fitting status.
///
/// | route | what |
/// | --- | --- |
/// | `GET /health` | phase, heights, lag; 200 when ready, 503 otherwise |
/// | `GET /v1/state` | heights, sequence, checksum, counts |
/// | `GET /v1/nodes`, `GET /v1/nodes/{id}` | nodes (`?zone=`, `?limit=`, `?after=`) and one node |
/// | `GET /v1/chunks/{hash}` | a chunk with its replicas |
/// | `GET /v1/zones` | zones |
/// | `POST /v1/events` | JSON Lines (or a JSON array) of events; bearer token; `?wait=true` waits for inclusion |
/// | `POST /v1/placement/preview` | a dry-run placement with the active policy |
/// | `GET /metrics` | Prometheus text format |
public enum CoordinatorAPI {
    /// Builds the Hummingbird application serving `node` on the configured address. `onListening` gets
    /// the bound port once the socket is listening (useful with port 0).
    public static func application(
        node: CoordinatorNode, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = node.configuration.api
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        let handlers = Handlers(node: node, api: configuration)
        router.get("/health") { _, _ in await handlers.health() }
        router.get("/v1/state") { _, _ in await handlers.state() }
        router.get("/v1/nodes") { request, _ in await handlers.nodes(request.uri.queryParameters) }
        router.get("/v1/nodes/:id") { _, context in await handlers.node(context.parameters.get("id") ?? "") }
        router.get("/v1/chunks/:hash") { _, context in await handlers.chunk(context.parameters.get("hash") ?? "") }
        router.get("/v1/zones") { _, _ in await handlers.zones() }
        router.post("/v1/events") { request, _ in await handlers.postEvents(request) }
        router.post("/v1/placement/preview") { request, _ in await handlers.preview(request) }
        router.get("/metrics") { _, _ in await handlers.metrics() }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "dsdn-coordinator"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

/// Turns errors thrown inside Hummingbird (unknown route, wrong method, oversized body) into the API's
/// JSON error shape.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let code: String
            switch error.status.code {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 413: code = "too_large"
            default: code = "http_\(error.status.code)"
            }
            let message =
                error.status.code == 404
                ? "no route \(request.method) \(request.uri.path) (see docs/operations.md for the API)"
                : error.body ?? error.status.reasonPhrase
            return jsonError(error.status, code, message)
        } catch {
            return jsonError(.internalServerError, "internal", "\(error)")
        }
    }
}

/// An API answer: `body` in the API's one JSON encoding (DSDNAPI's `APIJSON`).
func jsonResponse(_ status: HTTPResponse.Status = .ok, _ body: some Encodable) -> Response {
    let data: Data
    do {
        data = try APIJSON.encode(body)
    } catch {
        // Only a non-finite number cannot be encoded; answer with the error shape rather than trap.
        data =
            (try? APIJSON.encode(APIErrorBody(code: "internal", message: "the answer could not be encoded: \(error)"))) ?? Data("{}\n".utf8)
        return Response(
            status: .internalServerError, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

func jsonError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
    jsonResponse(status, APIErrorBody(code: code, message: message))
}

/// The route handlers, kept apart from the router so each is a plain async function.
struct Handlers: Sendable {
    let node: CoordinatorNode
    let api: APIConfiguration

    func health() async -> Response {
        let status = await node.health()
        let da = await node.da.health()
        let body = HealthResponse(
            status: status.phase.rawValue, appliedHeight: status.appliedHeight, head: status.head, lag: status.lag,
            consumer: describe(status.consumerHealth), publishBacklog: status.publishBacklog,
            da: HealthResponse.DA(ready: da.isReady, detail: da.detail, head: da.head),
            failure: status.failure, publisherHalted: status.publisherHalted, lastPolicyError: status.lastPolicyError)
        return jsonResponse(status.isHealthy ? .ok : .serviceUnavailable, body)
    }

    func state() async -> Response {
        let status = await node.status()
        let summary = status.summary
        let cursor = status.cursor
        var body = StateResponse()
        body.phase = status.phase.rawValue
        body.appliedHeight = status.appliedHeight
        body.head = status.head
        body.lag = status.lag
        body.checksum = summary.checksum.description
        body.nodes = summary.nodes
        body.zones = summary.zones
        body.chunks = summary.chunks
        body.liveReplicas = summary.liveReplicas
        body.lostReplicas = summary.lostReplicas
        body.underReplicatedChunks = summary.underReplicatedChunks
        body.eventsApplied = cursor.eventsApplied
        body.blobsApplied = cursor.blobsApplied
        body.blobsDuplicate = cursor.blobsDuplicate
        body.blobsRejected = cursor.blobsRejected
        body.placementsSuperseded = cursor.placementsSuperseded
        body.publisherID = status.publisherID
        body.publisherSequence = status.publisherSequence
        body.publishBacklog = status.publishBacklog
        body.outboxEvents = status.outboxEvents
        body.namespace = status.namespace
        body.placementsPublished = status.placements.placed
        body.policyErrors = status.placements.policyErrors
        body.ownBlobsRefused = status.recovery.blobsRefused
        body.eventsRepublished = status.recovery.eventsRepublished
        body.eventsDropped = status.recovery.eventsDropped
        body.policy = status.policy
        body.recentRejections = cursor.recentRejections.map { rejection in
            StateResponse.Rejection(
                height: rejection.position.height, index: rejection.position.index, reason: "\(rejection.reason)",
                message: rejection.message)
        }
        return jsonResponse(.ok, body)
    }

    func nodes(_ parameters: Parameters) async -> Response {
        let query: NodesQuery
        do {
            query = try NodesQuery { parameters.get($0) }
        } catch {
            return jsonError(.badRequest, "invalid_request", error.message)
        }
        let state = await node.snapshot()
        var nodes = query.zone.map { state.nodes(inZone: $0) } ?? state.allNodes()
        if let after = query.after { nodes = nodes.filter { after.utf8.lexicographicallyPrecedes($0.id.utf8) } }
        let page = nodes.prefix(query.limit)
        let next = nodes.count > query.limit ? page.last?.id : nil
        return jsonResponse(.ok, NodesResponse(nodes: page.map(NodeResponse.init), count: page.count, nextAfter: next))
    }

    func node(_ id: String) async -> Response {
        guard let info = await node.snapshot().node(id) else {
            return jsonError(.notFound, "not_found", "node \(id) is not registered")
        }
        return jsonResponse(.ok, NodeResponse(info))
    }

    func chunk(_ text: String) async -> Response {
        guard let hash = try? Hash256(hex: text) else {
            return jsonError(.badRequest, "invalid_request", "chunk hash must be 64 hex digits")
        }
        guard let chunk = await node.snapshot().chunk(hash) else {
            return jsonError(.notFound, "not_found", "chunk \(hash) is not declared")
        }
        let body = ChunkResponse(
            hash: chunk.hash.description, sizeBytes: chunk.sizeBytes, replicationFactor: chunk.replicationFactor,
            uploaderID: chunk.uploaderID, daCommitment: chunk.daCommitment?.description, liveReplicas: chunk.liveReplicaCount,
            underReplicated: chunk.isUnderReplicated,
            replicas: chunk.replicas.map { replica in
                ChunkResponse.Replica(
                    nodeID: replica.nodeID, replicaIndex: Int(replica.index), addedAt: replica.addedAtMillis, lost: replica.isLost)
            })
        return jsonResponse(.ok, body)
    }

    func zones() async -> Response {
        let zones = await node.snapshot().zones().map { zone in
            ZonesResponse.Zone(
                id: zone.id, nodes: zone.nodeIDs, capacityBytes: zone.capacityBytes, storedBytes: zone.storedBytes,
                utilization: zone.utilization)
        }
        return jsonResponse(.ok, ZonesResponse(zones: zones))
    }

    func postEvents(_ request: Request) async -> Response {
        guard let token = api.token else {
            return jsonError(.unauthorized, "unauthorized", "event submission is disabled: the coordinator has no API token configured")
        }
        let presented = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst("Bearer ".count)) : nil
        }
        guard let presented, constantTimeEquals(presented, token) else {
            var response = jsonError(.unauthorized, "unauthorized", "a valid bearer token is required (Authorization: Bearer <token>)")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        let text: String
        switch await body(of: request) {
        case let .success(value): text = value
        case let .failure(response): return response
        }
        let events: [Event]
        do {
            // JSON Lines, or one JSON array of event objects.
            events = text.drop(while: \.isWhitespace).first == "[" ? try EventJSON.decodeArray(text) : try EventJSON.decodeLines(text)
        } catch {
            return jsonError(.badRequest, "invalid_json", error.description)
        }
        guard !events.isEmpty else { return jsonError(.badRequest, "invalid_request", "the body holds no events") }
        guard events.count <= api.maxEventsPerRequest else {
            return jsonError(
                .contentTooLarge, "too_large", "\(events.count) events in one request; the limit is \(api.maxEventsPerRequest)")
        }
        let wait = request.uri.queryParameters.get("wait").map { $0 == "true" || $0 == "1" || $0 == "inclusion" } ?? false
        do {
            let acceptance = try await node.submit(events, waitForInclusion: wait)
            guard let receipt = acceptance.receipt else {
                return jsonResponse(.accepted, EventsResponse(accepted: events.count, ids: acceptance.ids))
            }
            return jsonResponse(
                .ok,
                EventsResponse(accepted: events.count, ids: acceptance.ids, height: receipt.reference.height, sequence: receipt.sequence))
        } catch let error as SubmissionError {
            switch error.code {
            case .invalid: return jsonError(.unprocessableContent, error.code.rawValue, error.message)
            case .backpressure, .notReady, .unavailable:
                var response = jsonError(.serviceUnavailable, error.code.rawValue, error.message)
                response.headers[.retryAfter] = "1"
                return response
            }
        } catch {
            return jsonError(.internalServerError, "internal", "\(error)")
        }
    }

    func preview(_ request: Request) async -> Response {
        guard let policy = node.configuration.policy else {
            return jsonError(.conflict, "no_policy", "the coordinator runs without a placement policy (start it with --policy)")
        }
        let text: String
        switch await body(of: request) {
        case let .success(value): text = value
        case let .failure(response): return response
        }
        let body: PreviewRequest
        do {
            body = try APIJSON.decode(PreviewRequest.self, from: text)
        } catch {
            let message = APIJSON.describe(error)
            return jsonError(.badRequest, message == "the body must be a JSON object" ? "invalid_json" : "invalid_request", message)
        }
        let state = await node.snapshot()
        var chunkRequest: ChunkRequest
        if let hashText = body.chunkHash {
            guard let hash = try? Hash256(hex: hashText) else {
                return jsonError(.badRequest, "invalid_request", "chunk_hash must be 64 hex digits")
            }
            guard let found = ChunkRequest(chunk: hash, in: state) else {
                return jsonError(.notFound, "not_found", "chunk \(hash) is not declared")
            }
            chunkRequest = found
        } else {
            guard let size = body.sizeBytes, size > 0,
                let factor = body.replicationFactor, (1...Int(Limits.maxReplicationFactor)).contains(factor)
            else {
                return jsonError(
                    .badRequest, "invalid_request",
                    "give chunk_hash, or size_bytes > 0 and replication_factor 1...\(Limits.maxReplicationFactor)")
            }
            chunkRequest = ChunkRequest(hash: .zero, sizeBytes: size, replicationFactor: factor, holders: body.holders ?? [])
        }
        if let want = body.want {
            guard want >= 0, want <= chunkRequest.replicationFactor else {
                return jsonError(.badRequest, "invalid_request", "want must be 0...\(chunkRequest.replicationFactor)")
            }
            chunkRequest.want = want
        }
        var overrides = node.configuration.policyOverrides
        for (name, value) in (body.params ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let parameter = ParameterValue(json: value) else {
                return jsonError(.badRequest, "invalid_request", "params.\(name) must be a number, a boolean or a string")
            }
            overrides.append((name, parameter))
        }
        let decision: PlacementDecision
        do {
            decision = try Scheduler.place(chunkRequest, inputs: DecisionInputs(state: state), policy: policy, overrides: overrides)
        } catch {
            return jsonError(.unprocessableContent, "policy_error", error.description)
        }
        let answer = PreviewResponse(
            policy: decision.policyName, policyVersion: decision.policyVersion,
            policySourceHash: decision.policySourceHash.description, inputDigest: decision.inputDigest.description,
            digest: decision.digest.description, want: decision.want, chosen: decision.chosen,
            instructions: decision.instructions, peakMemory: decision.peakMemory,
            verdicts: body.explain == true ? decision.verdicts.map(PreviewResponse.Verdict.init) : nil)
        return jsonResponse(.ok, answer)
    }

    func metrics() async -> Response {
        await node.refreshMetrics()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: node.metrics.render())))
    }

    // MARK: - Helpers

    private enum Body {
        case success(String)
        case failure(Response)
    }

    private func body(of request: Request) async -> Body {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: api.maxBodyBytes)
        } catch {
            return .failure(jsonError(.contentTooLarge, "too_large", "the request body exceeds \(api.maxBodyBytes) bytes"))
        }
        guard let text = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes),
            text.utf8.elementsEqual(buffer.readableBytesView)
        else {
            return .failure(jsonError(.badRequest, "invalid_request", "the body is not UTF-8 text"))
        }
        return .success(text)
    }
}

extension NodeResponse {
    /// The API's view of a node.
    init(_ node: NodeInfo) {
        self.init(
            id: node.id, zone: node.zone, addr: node.addr, capacityBytes: node.capacityBytes, status: "\(node.status)",
            storedBytes: node.storedBytes, liveReplicas: node.liveReplicas,
            stats: node.stats.map { stats in
                Stats(
                    cpuFreeMilli: stats.cpuFreeMilli, ramFreeMB: stats.ramFreeMB, gpuFreeMilli: stats.gpuFreeMilli,
                    latencyMicros: stats.latencyMicros, ioPressureMilli: stats.ioPressureMilli, usedBytes: stats.usedBytes,
                    reportedAtMillis: stats.reportedAtMillis)
            })
    }
}

extension PreviewResponse.Verdict {
    /// The API's view of a node's verdict; the first of two score terms with one name wins.
    init(_ verdict: NodeVerdict) {
        self.init(
            nodeID: verdict.nodeID, passed: verdict.passed, reason: verdict.reason, score: verdict.score, rank: verdict.rank,
            terms: verdict.terms.isEmpty
                ? nil : Dictionary(verdict.terms.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first }))
    }
}

extension ParameterValue {
    /// A policy parameter given as JSON (the preview's `params`), mapped by its JSON type: integers and
    /// other numbers, booleans and strings (a string stays a string). `nil` for `null`, arrays and objects.
    init?(json: JSONValue) {
        switch json {
        case let .bool(flag): self = .bool(flag)
        case let .int(value): self = .integer(value)
        case let .uint(value):
            guard let exact = Int64(exactly: value) else {
                guard let float = ParameterValue.float(Double(value)) else { return nil }
                self = float
                return
            }
            self = .integer(exact)
        case let .double(value):
            guard let float = ParameterValue.float(value) else { return nil }
            self = float
        case let .string(text): self = .string(text)
        case .null, .array, .object: return nil
        }
    }
}

func describe(_ health: DAConsumer.Health) -> String {
    switch health {
    case .idle: "idle"
    case .catchingUp: "catching_up"
    case .following: "following"
    case let .degraded(why): "degraded: \(why)"
    case let .failed(error): "failed: \(error)"
    case .stopped: "stopped"
    }
}

/// Compares a presented token with the configured one without an early exit on the first difference.
func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let a = Array(lhs.utf8)
    let b = Array(rhs.utf8)
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
