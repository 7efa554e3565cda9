import DSDNCore
import DSDNInterchange
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
            let message = error.status.code == 404
                ? "no route \(request.method) \(request.uri.path) (see docs/operations.md for the API)"
                : error.body ?? error.status.reasonPhrase
            return jsonError(error.status, code, message)
        } catch {
            return jsonError(.internalServerError, "internal", "\(error)")
        }
    }
}

func jsonResponse(_ status: HTTPResponse.Status = .ok, _ object: Any) -> Response {
    // JSONSerialization accepts every value built here (strings, numbers, bools, arrays, dictionaries).
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    var buffer = ByteBuffer()
    buffer.writeBytes(data)
    buffer.writeString("\n")
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
}

func jsonError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
    jsonResponse(status, ["error": ["code": code, "message": message]])
}

/// The route handlers, kept apart from the router so each is a plain async function.
struct Handlers: Sendable {
    let node: CoordinatorNode
    let api: APIConfiguration

    func health() async -> Response {
        let status = await node.health()
        var body: [String: Any] = [
            "status": status.phase.rawValue, "applied_height": status.appliedHeight, "head": status.head,
            "lag": status.lag, "consumer": describe(status.consumerHealth),
            "publish_backlog": status.publishBacklog,
        ]
        let da = await node.da.health()
        var daBody: [String: Any] = ["ready": da.isReady, "detail": da.detail]
        daBody["head"] = da.head.map { $0 as Any } ?? NSNull()
        body["da"] = daBody
        if let failure = status.failure { body["failure"] = failure }
        if let halted = status.publisherHalted { body["publisher_halted"] = halted }
        if let error = status.lastPolicyError { body["last_policy_error"] = error }
        return jsonResponse(status.isHealthy ? .ok : .serviceUnavailable, body)
    }

    func state() async -> Response {
        let status = await node.status()
        let summary = status.summary
        let cursor = status.cursor
        var body: [String: Any] = [
            "phase": status.phase.rawValue, "applied_height": status.appliedHeight, "head": status.head, "lag": status.lag,
            "checksum": summary.checksum.description, "nodes": summary.nodes, "zones": summary.zones, "chunks": summary.chunks,
            "live_replicas": summary.liveReplicas, "lost_replicas": summary.lostReplicas,
            "under_replicated_chunks": summary.underReplicatedChunks, "events_applied": cursor.eventsApplied,
            "blobs_applied": cursor.blobsApplied, "blobs_duplicate": cursor.blobsDuplicate,
            "blobs_rejected": cursor.blobsRejected, "placements_superseded": cursor.placementsSuperseded,
            "publisher_id": status.publisherID, "publisher_sequence": status.publisherSequence,
            "publish_backlog": status.publishBacklog, "outbox_events": status.outboxEvents,
            "namespace": status.namespace, "placements_published": status.placements.placed,
            "policy_errors": status.placements.policyErrors, "own_blobs_refused": status.recovery.blobsRefused,
            "events_republished": status.recovery.eventsRepublished, "events_dropped": status.recovery.eventsDropped,
        ]
        body["policy"] = status.policy ?? NSNull()
        body["recent_rejections"] = cursor.recentRejections.map { rejection -> [String: Any] in
            [
                "height": rejection.position.height, "index": rejection.position.index,
                "reason": "\(rejection.reason)", "message": rejection.message,
            ]
        }
        return jsonResponse(.ok, body)
    }

    func nodes(_ query: Parameters) async -> Response {
        let state = await node.snapshot()
        let zone = query.get("zone")
        let after = query.get("after")
        guard let limit = query.get("limit").map({ Int($0) }) ?? 1_000, limit > 0 else {
            return jsonError(.badRequest, "invalid_request", "limit must be a positive integer")
        }
        var nodes = zone.map { state.nodes(inZone: $0) } ?? state.allNodes()
        if let after { nodes = nodes.filter { after.utf8.lexicographicallyPrecedes($0.id.utf8) } }
        let page = nodes.prefix(limit)
        var body: [String: Any] = ["nodes": page.map(nodeJSON), "count": page.count]
        if nodes.count > limit, let last = page.last { body["next_after"] = last.id }
        return jsonResponse(.ok, body)
    }

    func node(_ id: String) async -> Response {
        guard let info = await node.snapshot().node(id) else {
            return jsonError(.notFound, "not_found", "node \(id) is not registered")
        }
        return jsonResponse(.ok, nodeJSON(info))
    }

    func chunk(_ text: String) async -> Response {
        guard let hash = try? Hash256(hex: text) else {
            return jsonError(.badRequest, "invalid_request", "chunk hash must be 64 hex digits")
        }
        guard let chunk = await node.snapshot().chunk(hash) else {
            return jsonError(.notFound, "not_found", "chunk \(hash) is not declared")
        }
        var body: [String: Any] = [
            "hash": chunk.hash.description, "size_bytes": chunk.sizeBytes, "replication_factor": chunk.replicationFactor,
            "uploader_id": chunk.uploaderID, "live_replicas": chunk.liveReplicaCount,
            "under_replicated": chunk.isUnderReplicated,
            "replicas": chunk.replicas.map { replica -> [String: Any] in
                ["node_id": replica.nodeID, "replica_index": Int(replica.index), "added_at": replica.addedAtMillis, "lost": replica.isLost]
            },
        ]
        body["da_commitment"] = chunk.daCommitment?.description ?? NSNull()
        return jsonResponse(.ok, body)
    }

    func zones() async -> Response {
        let zones = await node.snapshot().zones().map { zone -> [String: Any] in
            [
                "id": zone.id, "nodes": zone.nodeIDs, "capacity_bytes": zone.capacityBytes, "stored_bytes": zone.storedBytes,
                "utilization": zone.utilization,
            ]
        }
        return jsonResponse(.ok, ["zones": zones])
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
            events = try decodeEvents(text)
        } catch {
            return jsonError(.badRequest, "invalid_json", error.description)
        }
        guard !events.isEmpty else { return jsonError(.badRequest, "invalid_request", "the body holds no events") }
        guard events.count <= api.maxEventsPerRequest else {
            return jsonError(.contentTooLarge, "too_large", "\(events.count) events in one request; the limit is \(api.maxEventsPerRequest)")
        }
        let wait = request.uri.queryParameters.get("wait").map { $0 == "true" || $0 == "1" || $0 == "inclusion" } ?? false
        do {
            let acceptance = try await node.submit(events, waitForInclusion: wait)
            var body: [String: Any] = ["accepted": events.count, "ids": acceptance.ids, "durable": true]
            if let receipt = acceptance.receipt {
                body["height"] = receipt.reference.height
                body["sequence"] = receipt.sequence
                return jsonResponse(.ok, body)
            }
            return jsonResponse(.accepted, body)
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
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return jsonError(.badRequest, "invalid_json", "the body must be a JSON object")
        }
        let known: Set<String> = ["chunk_hash", "size_bytes", "replication_factor", "holders", "want", "params", "explain"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return jsonError(.badRequest, "invalid_request", "unknown field \(unknown)")
        }
        let state = await node.snapshot()
        var chunkRequest: ChunkRequest
        if let hashText = object["chunk_hash"] as? String {
            guard let hash = try? Hash256(hex: hashText) else {
                return jsonError(.badRequest, "invalid_request", "chunk_hash must be 64 hex digits")
            }
            guard let found = ChunkRequest(chunk: hash, in: state) else {
                return jsonError(.notFound, "not_found", "chunk \(hash) is not declared")
            }
            chunkRequest = found
        } else {
            guard let size = (object["size_bytes"] as? NSNumber)?.uint64Value, size > 0,
                let factor = (object["replication_factor"] as? NSNumber)?.intValue, (1...Int(Limits.maxReplicationFactor)).contains(factor)
            else {
                return jsonError(.badRequest, "invalid_request", "give chunk_hash, or size_bytes > 0 and replication_factor 1...\(Limits.maxReplicationFactor)")
            }
            chunkRequest = ChunkRequest(hash: .zero, sizeBytes: size, replicationFactor: factor, holders: object["holders"] as? [String] ?? [])
        }
        if let want = (object["want"] as? NSNumber)?.intValue {
            guard want >= 0, want <= chunkRequest.replicationFactor else {
                return jsonError(.badRequest, "invalid_request", "want must be 0...\(chunkRequest.replicationFactor)")
            }
            chunkRequest.want = want
        }
        var overrides = node.configuration.policyOverrides
        if let params = object["params"] as? [String: Any] {
            for name in params.keys.sorted() {
                let value = params[name].map { "\($0)" } ?? ""
                overrides.append((name, ParameterValue(parsing: value)))
            }
        }
        let decision: PlacementDecision
        do {
            decision = try Scheduler.place(chunkRequest, inputs: DecisionInputs(state: state), policy: policy, overrides: overrides)
        } catch {
            return jsonError(.unprocessableContent, "policy_error", error.description)
        }
        var body: [String: Any] = [
            "policy": decision.policyName, "policy_version": decision.policyVersion,
            "policy_source_hash": decision.policySourceHash.description, "input_digest": decision.inputDigest.description,
            "digest": decision.digest.description, "want": decision.want, "chosen": decision.chosen,
            "instructions": decision.instructions, "peak_memory": decision.peakMemory,
        ]
        if (object["explain"] as? Bool) == true {
            body["verdicts"] = decision.verdicts.map { verdict -> [String: Any] in
                var entry: [String: Any] = ["node_id": verdict.nodeID, "passed": verdict.passed]
                if let reason = verdict.reason { entry["reason"] = reason }
                if let score = verdict.score { entry["score"] = score }
                if let rank = verdict.rank { entry["rank"] = rank }
                if !verdict.terms.isEmpty {
                    entry["terms"] = Dictionary(verdict.terms.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
                }
                return entry
            }
        }
        return jsonResponse(.ok, body)
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

    private func decodeEvents(_ text: String) throws(EventJSON.LineError) -> [Event] {
        let trimmed = text.drop { $0.isWhitespace }
        guard trimmed.first == "[" else { return try EventJSON.decodeLines(text) }
        guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else {
            throw EventJSON.LineError(line: 0, message: "the body starts with [ but is not a JSON array")
        }
        var events: [Event] = []
        for (position, element) in array.enumerated() {
            guard let data = try? JSONSerialization.data(withJSONObject: element), let line = String(data: data, encoding: .utf8) else {
                throw EventJSON.LineError(line: 0, message: "element \(position) is not a JSON object")
            }
            do {
                events.append(try EventJSON.decode(line))
            } catch {
                throw EventJSON.LineError(line: 0, message: "element \(position): \(error.message)")
            }
        }
        return events
    }
}

func nodeJSON(_ node: NodeInfo) -> [String: Any] {
    var body: [String: Any] = [
        "id": node.id, "addr": node.addr, "capacity_bytes": node.capacityBytes, "status": "\(node.status)",
        "stored_bytes": node.storedBytes, "live_replicas": node.liveReplicas,
    ]
    body["zone"] = node.zone ?? NSNull()
    if let stats = node.stats {
        body["stats"] = [
            "cpu_free_milli": stats.cpuFreeMilli, "ram_free_mb": stats.ramFreeMB, "gpu_free_milli": stats.gpuFreeMilli,
            "latency_us": stats.latencyMicros, "io_pressure_milli": stats.ioPressureMilli, "used_bytes": stats.usedBytes,
            "reported_at": stats.reportedAtMillis,
        ]
    }
    return body
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
    let a = Array(lhs.utf8), b = Array(rhs.utf8)
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
