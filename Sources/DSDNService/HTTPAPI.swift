import DSDNAPI
import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNRuntime
import DSDNScheduler
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

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
/// | `POST /v1/events` | JSON Lines (or a JSON array) of events; bearer token; `?wait=true` waits for their fates |
/// | `GET /v1/events/{id}` | an accepted event's fate: pending, applied or refused |
/// | `POST /v1/placement/preview` | a dry-run placement with the active policy |
/// | `GET /metrics` | Prometheus text format |
public enum CoordinatorAPI {
    /// Builds the Hummingbird application serving `node` on the configured address. `onListening` gets
    /// the bound port once the socket is listening (useful with port 0).
    public static func application(
        node: CoordinatorNode, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = node.configuration.api
        // GET routes answer HEAD too (the same headers, no body).
        let router = Router(context: APIRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: JSONErrorMiddleware())
        let handlers = Handlers(node: node, api: configuration)
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in
                await route.handle(handlers, request, context)
            }
        }
        let idleTimeout = configuration.idleTimeout.components
        let server = HTTP1Channel.Configuration(
            additionalChannelHandlers: [MalformedRequestHandler()],
            idleTimeout: TimeAmount.nanoseconds(idleTimeout.seconds * 1_000_000_000 + idleTimeout.attoseconds / 1_000_000_000))
        return Application(
            router: router,
            server: .http1(configuration: server),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "dsdn-coordinator",
                availableConnectionsDelegate: ConnectionLimit(limit: configuration.maxConnections, logger: logger)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    /// One route: a path pattern (`:name` is a parameter), a method, and its handler.
    struct Route: Sendable {
        let path: String
        let method: HTTPRequest.Method
        let handle: @Sendable (Handlers, Request, APIRequestContext) async -> Response
    }

    /// Every route, registered from this one table; the 405 answers read it too.
    static let routes: [Route] = [
        Route(path: "/health", method: .get) { handlers, _, _ in await handlers.health() },
        Route(path: "/v1/state", method: .get) { handlers, _, _ in await handlers.state() },
        Route(path: "/v1/nodes", method: .get) { handlers, request, _ in await handlers.nodes(request.uri.queryParameters) },
        Route(path: "/v1/nodes/:id", method: .get) { handlers, _, context in await handlers.node(context.parameters.get("id") ?? "") },
        Route(path: "/v1/chunks/:hash", method: .get) { handlers, _, context in
            await handlers.chunk(context.parameters.get("hash") ?? "")
        },
        Route(path: "/v1/zones", method: .get) { handlers, _, _ in await handlers.zones() },
        Route(path: "/v1/policies", method: .get) { handlers, _, _ in await handlers.policies() },
        Route(path: "/v1/policies/:name", method: .get) { handlers, _, context in
            await handlers.policy(context.parameters.get("name") ?? "")
        },
        Route(path: "/v1/policies", method: .post) { handlers, request, context in
            await handlers.publishPolicy(request, client: context.clientKey)
        },
        Route(path: "/v1/policies/:name/activate", method: .post) { handlers, request, context in
            await handlers.activatePolicy(context.parameters.get("name") ?? "", request, client: context.clientKey)
        },
        Route(path: "/v1/policies/:name/params", method: .post) { handlers, request, context in
            await handlers.setPolicyParameters(context.parameters.get("name") ?? "", request, client: context.clientKey)
        },
        Route(path: "/v1/events", method: .post) { handlers, request, context in
            await handlers.postEvents(request, client: context.clientKey)
        },
        Route(path: "/v1/events/:id", method: .get) { handlers, _, context in
            await handlers.eventFate(context.parameters.get("id") ?? "")
        },
        Route(path: "/v1/placement/preview", method: .post) { handlers, request, context in
            await handlers.preview(request, client: context.clientKey)
        },
        Route(path: "/metrics", method: .get) { handlers, _, _ in await handlers.metrics() },
    ]

    /// The methods `path` is served with; empty when no route has that path.
    static func methods(servingPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods: [HTTPRequest.Method] = []
        for route in routes {
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count,
                zip(pattern, segments).allSatisfy({ expected, given in expected.hasPrefix(":") ? !given.isEmpty : expected == given })
            else { continue }
            methods.append(route.method)
            // GET routes answer HEAD too (the router's autoGenerateHeadEndpoints).
            if route.method == .get { methods.append(.head) }
        }
        return methods
    }
}

/// The connection cap: at `limit` open connections new ones wait in the listen backlog until one closes.
/// Reaching the cap is logged once (again after the count fell to half of it).
struct ConnectionLimit: AvailableConnectionsDelegate {
    let limit: Int
    let logger: Logger
    private var open = 0
    private var warned = false

    init(limit: Int, logger: Logger) {
        self.limit = max(1, limit)
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        if open >= limit, !warned {
            warned = true
            logger.warning("API connection limit reached: new connections wait until one closes", metadata: ["limit": "\(limit)"])
        }
    }

    mutating func connectionClosed() {
        open -= 1
        if warned, open <= limit / 2 { warned = false }
    }

    func isAcceptingNewConnections() -> Bool { open < limit }
}

/// The API's request context: Hummingbird's basic one plus the client's address, which limits previews
/// per client.
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client a per-client limit counts against: its IP address.
    var clientKey: String { remoteAddress?.ipAddress ?? "local" }
}

/// Answers a request that is not valid HTTP/1.1 with a 400 and the API's JSON error body, then closes the
/// connection. (Hummingbird's own answer has no body.) Only between requests: a parse error in the middle
/// of a request whose answer may be on its way just closes the connection.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var requestsOpen = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { requestsOpen += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { requestsOpen = max(0, requestsOpen - 1) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard requestsOpen == 0 else {
            context.close(promise: nil)
            return
        }
        let body = (try? APIJSON.encode(APIErrorBody(code: "bad_request", message: "malformed HTTP request: \(parseError)"))) ?? Data()
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [.contentType: "application/json", .contentLength: "\(body.count)", .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// Turns errors thrown inside Hummingbird (unknown route, wrong method, oversized body) into the API's
/// JSON error shape.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status.code == 404 {
                let allowed = CoordinatorAPI.methods(servingPath: request.uri.path)
                if !allowed.isEmpty {
                    var response = jsonError(
                        .methodNotAllowed, "method_not_allowed",
                        "\(request.uri.path) does not take \(request.method); it takes \(allowed.map(\.rawValue).joined(separator: ", "))")
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
            }
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
    /// Each hidden path (as configured and absolute) with its label, longest first.
    let hidden: [(path: String, label: String)]
    let submissionLimit: SubmissionRateLimit

    init(node: CoordinatorNode, api: APIConfiguration) {
        self.node = node
        self.api = api
        submissionLimit = SubmissionRateLimit(rate: api.submissionsPerSecond, burst: api.submissionBurst)
        var labels = api.hiddenPaths
        labels[node.configuration.dataDirectory] = "DATA_DIR"
        var hidden: [(path: String, label: String)] = []
        for (path, label) in labels where !path.isEmpty {
            hidden.append((path, label))
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            if absolute != path { hidden.append((absolute, label)) }
        }
        self.hidden = hidden.sorted {
            $0.path.utf8.count != $1.path.utf8.count
                ? $0.path.utf8.count > $1.path.utf8.count : $0.path.utf8.lexicographicallyPrecedes($1.path.utf8)
        }
    }

    /// `message` for a response body, with every hidden path replaced by its label: no answer tells a
    /// client where the coordinator keeps its files.
    func redact(_ message: String) -> String {
        hidden.reduce(message) { text, entry in text.replacingOccurrences(of: entry.path, with: entry.label) }
    }

    func redact(_ message: String?) -> String? { message.map { redact($0) } }

    func health() async -> Response {
        let status = await node.health()
        let da = status.da
        let body = HealthResponse(
            status: status.phase.rawValue, appliedHeight: status.appliedHeight, head: status.head, lag: status.lag,
            consumer: redact(describe(status.consumerHealth)), publishBacklog: status.publishBacklog,
            da: HealthResponse.DA(ready: da.isReady, detail: redact(da.detail), head: da.head),
            failure: redact(status.failure), publisherHalted: redact(status.publisherHalted),
            outboxFailure: redact(status.outboxFailure), publisherDegraded: redact(status.publisherDegraded),
            lastPolicyError: redact(status.lastPolicyError))
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

    /// `POST /v1/policies`: checks a source as `policy check` does (on an evaluation thread), then
    /// publishes it, and with `role` activates it.
    func publishPolicy(_ request: Request, client: String) async -> Response {
        if let refusal = admitSubmission(request, client: client) { return refusal }
        let body: PolicyPublishRequest
        switch await decodeBody(PolicyPublishRequest.self, request) {
        case let .success(value): body = value
        case let .failure(response): return response
        }
        let role: PolicyRole?
        switch body.role {
        case nil: role = nil
        case let name?:
            guard let parsed = PolicyRole(name: name) else {
                return jsonError(.badRequest, "invalid_request", "role must be placement or shadow, got \(name.debugDescription)")
            }
            role = parsed
        }
        let source = body.source
        let checked: Result<Policy, PolicyError>
        do throws(PolicyEvaluationError) {
            checked = try await node.previewEvaluator.run {
                Result { () throws(PolicyError) in
                    let policy = try Policy.load(source: source, fileName: "policy.lua")
                    if let refusal = ExampleResult.refusal(policy.runExamples(), file: policy.label) {
                        throw PolicyError(.invalidResult, refusal)
                    }
                    return policy
                }
            }
        } catch {
            return jsonError(.serviceUnavailable, "stopping", "the coordinator is stopping")
        }
        let policy: Policy
        switch checked {
        case let .success(value): policy = value
        case let .failure(error): return jsonError(.unprocessableContent, "policy_refused", "not published: \(error)")
        }
        var events: [Event] = [.policyPublished(policy.release)]
        if let role { events.append(.policyActivated(name: policy.name, version: policy.version, role: role)) }
        return await submit(events, request: request)
    }

    /// `POST /v1/policies/{name}/activate`.
    func activatePolicy(_ name: String, _ request: Request, client: String) async -> Response {
        if let refusal = admitSubmission(request, client: client) { return refusal }
        let body: PolicyActivateRequest
        switch await decodeBody(PolicyActivateRequest.self, request) {
        case let .success(value): body = value
        case let .failure(response): return response
        }
        guard let role = PolicyRole(name: body.role ?? "placement") else {
            return jsonError(.badRequest, "invalid_request", "role must be placement or shadow, got \((body.role ?? "").debugDescription)")
        }
        return await submit([.policyActivated(name: name, version: body.version, role: role)], request: request)
    }

    /// `POST /v1/policies/{name}/params`: each value read as the declared type.
    func setPolicyParameters(_ name: String, _ request: Request, client: String) async -> Response {
        if let refusal = admitSubmission(request, client: client) { return refusal }
        let body: PolicyParamsRequest
        switch await decodeBody(PolicyParamsRequest.self, request) {
        case let .success(value): body = value
        case let .failure(response): return response
        }
        let wanted = body.version
        let info = await node.consumer.read { state -> PolicyVersionInfo? in
            let versions = state.policyVersions().filter { $0.release.name == name }
            let active = [state.placementPolicy, state.shadowPolicy].compactMap { $0 }.first { $0.name == name }?.version
            let chosen = wanted ?? active ?? versions.map(\.release.version).max()
            return versions.first { $0.release.version == chosen }
        }
        guard let info else {
            return jsonError(.notFound, "not_found", "policy \(name)\(wanted.map { "@\($0)" } ?? "") is not published")
        }
        var parameters: [PolicyParameter] = []
        for (key, value) in body.params.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            guard let declared = info.release.parameters.first(where: { $0.name == key }) else {
                let known = info.release.parameters.map(\.name).joined(separator: ", ")
                return jsonError(
                    .badRequest, "invalid_request",
                    "unknown parameter \(key) of \(info.release.label) (known: \(known.isEmpty ? "none" : known))")
            }
            guard let typed = Self.parameterValue(value, as: declared.value) else {
                return jsonError(
                    .badRequest, "invalid_request",
                    "params.\(key) must be \(declared.value.typeName == "integer" ? "an" : "a") \(declared.value.typeName)")
            }
            parameters.append(PolicyParameter(name: key, value: typed))
        }
        return await submit([.policyParamsSet(name: name, version: info.release.version, parameters: parameters)], request: request)
    }

    /// A JSON value as a parameter of the declared type (a `number` parameter takes integers too).
    private static func parameterValue(_ value: JSONValue, as declared: PolicyParameterValue) -> PolicyParameterValue? {
        switch (declared, value) {
        case let (.integer, .int(number)): .integer(number)
        case let (.integer, .uint(number)): Int64(exactly: number).map { .integer($0) }
        case let (.number, .double(number)): PolicyParameterValue.number(number)
        case let (.number, .int(number)): PolicyParameterValue.number(Double(number))
        case let (.number, .uint(number)): PolicyParameterValue.number(Double(number))
        case let (.boolean, .bool(flag)): .boolean(flag)
        case let (.string, .string(text)): .string(text)
        default: nil
        }
    }

    /// A decoded body, or the answer to give instead.
    enum Decoded<T> {
        case success(T)
        case failure(Response)
    }

    /// Reads and decodes a JSON body, answering 400 with one line naming the field when it is wrong.
    private func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request) async -> Decoded<T> {
        let text: String
        switch await body(of: request) {
        case let .success(value): text = value
        case let .failure(response): return .failure(response)
        }
        // Strict first: duplicate keys, leading zeros or bad escapes are refused, not read leniently.
        if let syntax = strictJSONObjectError(text) { return .failure(jsonError(.badRequest, "invalid_json", syntax)) }
        do {
            return .success(try APIJSON.decode(type, from: text))
        } catch {
            let message = APIJSON.describe(error)
            return .failure(
                jsonError(.badRequest, message == "the body must be a JSON object" ? "invalid_json" : "invalid_request", message))
        }
    }

    func policies() async -> Response {
        let body = await node.consumer.read { state in
            PoliciesResponse(
                placement: state.placementPolicy?.label, shadow: state.shadowPolicy?.label,
                versions: state.policyVersions().map { PolicyVersionBody($0, in: state, withSource: false) })
        }
        return jsonResponse(.ok, body)
    }

    func policy(_ name: String) async -> Response {
        let body = await node.consumer.read { state -> PolicyResponse? in
            let versions = state.policyVersions().filter { $0.release.name == name }
            guard !versions.isEmpty else { return nil }
            return PolicyResponse(
                name: name, placement: state.placementPolicy?.label, shadow: state.shadowPolicy?.label,
                versions: versions.map { PolicyVersionBody($0, in: state, withSource: true) },
                history: state.policyHistory.filter { $0.name == name }.map(PolicyChangeBody.init))
        }
        guard var body else { return jsonError(.notFound, "not_found", "no version of policy \(name) is published") }
        let prefix = name + "@"
        body.shadowRecords = await node.placement.shadowTallies.values.filter { $0.shadow.hasPrefix(prefix) }
            .sorted { $0.shadow.utf8.lexicographicallyPrecedes($1.shadow.utf8) }
            .map { tally in
                ShadowTallyBody(
                    shadow: tally.shadow, placement: tally.placement, agreements: tally.agreements, disagreements: tally.disagreements,
                    failures: tally.failures,
                    recentDisagreements: tally.recentDisagreements.map {
                        ShadowTallyBody.Disagreement(
                            chunk: $0.chunk.hex, placement: $0.placement, shadow: $0.shadow, snapshotHeight: $0.snapshotHeight)
                    }, lastFailure: tally.lastFailure)
            }
        return jsonResponse(.ok, body)
    }

    func postEvents(_ request: Request, client: String) async -> Response {
        if let refusal = admitSubmission(request, client: client) { return refusal }
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
        return await submit(events, request: request)
    }

    /// The rate limit and the bearer token of a submission; `nil` when it may proceed.
    private func admitSubmission(_ request: Request, client: String) -> Response? {
        if let milliseconds = submissionLimit.admit(client) {
            var response = jsonError(
                .tooManyRequests, "rate_limited",
                "too many submissions from this client (at most \(submissionLimit.summary)); retry in \(milliseconds) ms")
            response.headers[.retryAfter] = "\((milliseconds + 999) / 1_000)"
            return response
        }
        guard let token = api.token else {
            return jsonError(.unauthorized, "unauthorized", "event submission is disabled: the coordinator has no API token configured")
        }
        guard let presented = request.headers[.authorization].flatMap(bearerToken(in:)), constantTimeEquals(presented, token) else {
            var response = jsonError(.unauthorized, "unauthorized", "a valid bearer token is required (Authorization: Bearer <token>)")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return nil
    }

    /// Submits events (waiting for inclusion with `?wait=true`) and answers as `POST /v1/events` does.
    private func submit(_ events: [Event], request: Request) async -> Response {
        let wait = request.uri.queryParameters.get("wait").map { $0 == "true" || $0 == "1" || $0 == "inclusion" } ?? false
        do {
            let acceptance = try await node.submit(events, waitForInclusion: wait)
            guard let fates = acceptance.fates else {
                return jsonResponse(.accepted, EventsResponse(accepted: events.count, ids: acceptance.ids))
            }
            var applied: (height: UInt64, sequence: UInt64) = (0, 0)
            var refusals: [String] = []
            for (position, (id, fate)) in zip(acceptance.ids, fates).enumerated() {
                switch fate {
                case let .applied(height, sequence): applied = (max(applied.height, height), max(applied.sequence, sequence))
                case let .refused(height, reason):
                    refusals.append("event \(position) (id \(id)) was refused at height \(height): \(reason)")
                case .pending: break
                }
            }
            guard refusals.isEmpty else {
                let others = refusals.count == events.count ? "" : "; the others were applied"
                return jsonError(.conflict, "refused_after_acceptance", redact(refusals.joined(separator: "; ") + others))
            }
            return jsonResponse(
                .ok, EventsResponse(accepted: events.count, ids: acceptance.ids, height: applied.height, sequence: applied.sequence))
        } catch let error as SubmissionError {
            switch error.code {
            case .invalid: return jsonError(.unprocessableContent, error.code.rawValue, redact(error.message))
            case .backpressure, .notReady, .unavailable:
                var response = jsonError(.serviceUnavailable, error.code.rawValue, redact(error.message))
                response.headers[.retryAfter] = "1"
                return response
            }
        } catch {
            return jsonError(.internalServerError, "internal", redact("\(error)"))
        }
    }

    func eventFate(_ text: String) async -> Response {
        guard let id = UInt64(text) else { return jsonError(.badRequest, "invalid_request", "an event id is a non-negative integer") }
        guard let fate = await node.intake.fate(of: id) else {
            return jsonError(
                .notFound, "not_found",
                "event \(id) is not known here: not accepted by this coordinator since it started, or too old (the last 100,000 are kept)")
        }
        switch fate {
        case .pending: return jsonResponse(.ok, EventFateResponse(id: id, fate: "pending"))
        case let .applied(height, sequence):
            return jsonResponse(.ok, EventFateResponse(id: id, fate: "applied", height: height, sequence: sequence))
        case let .refused(height, reason):
            let shown: String = redact(reason)
            return jsonResponse(.ok, EventFateResponse(id: id, fate: "refused", height: height, reason: shown))
        }
    }

    func preview(_ request: Request, client: String) async -> Response {
        if let refusal = node.previewAdmission.admit(client) {
            let message =
                switch refusal {
                case .busy: "every preview slot is taken (\(api.previewConcurrency) running, \(api.maxQueuedPreviews) waiting); retry later"
                case .clientLimit: "this client already has \(api.maxPreviewsPerClient) previews running or waiting; retry when one ends"
                }
            var response = jsonError(.tooManyRequests, "too_many_previews", message)
            response.headers[.retryAfter] = "1"
            return response
        }
        defer { node.previewAdmission.release(client) }
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
        var chunkRequest: ChunkRequest
        // The chunk and the node registry are read inside the consumer: no copy of the chunk table
        // outlives this line, so the preview never makes the next apply copy it.
        // The policy is the version active in the same snapshot, with its values in force.
        let hashText = body.chunkHash
        let (found, registry, active) = await node.consumer.read { state in
            (
                hashText.flatMap { try? Hash256(hex: $0) }.flatMap { ChunkRequest(chunk: $0, in: state) }, state.nodeRegistry,
                state.placementPolicy.flatMap { state.policyVersion($0.name, $0.version) }
            )
        }
        guard let active else {
            return jsonError(
                .conflict, "no_policy",
                "no placement policy is active (publish and activate one: dsdn-coordinator policy publish FILE --activate)")
        }
        if let hashText {
            guard let hash = try? Hash256(hex: hashText) else {
                return jsonError(.badRequest, "invalid_request", "chunk_hash must be 64 hex digits")
            }
            guard let found else { return jsonError(.notFound, "not_found", "chunk \(hash) is not declared") }
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
        var overrides: [(String, ParameterValue)] = []
        for (name, value) in (body.params ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let parameter = ParameterValue(json: value) else {
                return jsonError(.badRequest, "invalid_request", "params.\(name) must be a number, a boolean or a string")
            }
            overrides.append((name, parameter))
        }
        // The inputs, the decision and the answer (thousands of verdicts with explain) are all built on
        // the evaluator's thread: nothing of a preview's cost lands on the threads `/health` needs.
        let request = chunkRequest
        let explain = body.explain == true
        let parameters = overrides
        let library = node.policies
        let outcome: Result<Response, PolicyError>
        do throws(PolicyEvaluationError) {
            outcome = try await node.previewEvaluator.run {
                do throws(PolicyError) {
                    let resolved = try library.resolve(active)
                    let policy = resolved.policy
                    let parameters = resolved.overrides + parameters
                    let inputs = DecisionInputs(nodes: registry.allNodes(), zones: registry.zones())
                    let decision = try Scheduler.place(request, inputs: inputs, policy: policy, overrides: parameters, explain: explain)
                    let answer = PreviewResponse(
                        policy: decision.policyName, policyVersion: decision.policyVersion,
                        policySourceHash: decision.policySourceHash.description, inputDigest: decision.inputDigest.description,
                        digest: decision.digest.description, want: decision.want, chosen: decision.chosen,
                        instructions: decision.instructions, peakMemory: decision.peakMemory,
                        verdicts: explain ? decision.verdicts.map(PreviewResponse.Verdict.init) : nil)
                    return .success(jsonResponse(.ok, answer))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            return jsonError(.serviceUnavailable, "stopping", "the coordinator is stopping")
        }
        switch outcome {
        case let .success(response): return response
        case let .failure(failure): return jsonError(.unprocessableContent, "policy_error", failure.description)
        }
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

/// Compares a presented token with the configured one without an early exit on the first difference;
/// tokens of different lengths never match, whatever the difference.
func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let a = Array(lhs.utf8)
    let b = Array(rhs.utf8)
    var difference: UInt8 = a.count == b.count ? 0 : 1
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}

/// The token of an `Authorization` value in the bearer scheme, whose name is case-insensitive
/// (`Bearer`, `bearer`, `BEARER`); `nil` for another scheme or an empty token.
func bearerToken(in value: String) -> String? {
    let trimmed = value.drop(while: { $0 == " " })
    guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "bearer" else { return nil }
    let token = trimmed[space...].trimmingCharacters(in: .whitespaces)
    return token.isEmpty ? nil : token
}

extension PolicyParameterBody {
    init(_ parameter: PolicyParameter) {
        let value: JSONValue =
            switch parameter.value {
            case let .integer(number): .int(number)
            case let .number(bits): .double(Double(bitPattern: bits))
            case let .boolean(flag): .bool(flag)
            case let .string(text): .string(text)
            }
        self.init(name: parameter.name, type: parameter.value.typeName, value: value)
    }
}

extension PolicyVersionBody {
    init(_ info: PolicyVersionInfo, in state: DerivedState, withSource: Bool) {
        let release = info.release
        let roles = [
            state.placementPolicy == PolicyActivation(name: release.name, version: release.version) ? "placement" : nil,
            state.shadowPolicy == PolicyActivation(name: release.name, version: release.version) ? "shadow" : nil,
        ].compactMap { $0 }
        self.init(
            name: release.name, version: release.version, api: Int(release.apiLevel), sourceHash: release.sourceHash.hex,
            declared: release.parameters.map(PolicyParameterBody.init), params: info.values.map(PolicyParameterBody.init),
            paramsDigest: info.parametersDigest.hex, parameterSets: info.parameterSets,
            budgetInstructions: release.instructionBudget, budgetMemory: release.memoryBudget,
            role: roles.isEmpty ? nil : roles.joined(separator: ","),
            source: withSource ? String(decoding: release.source, as: UTF8.self) : nil)
    }
}

extension PolicyChangeBody {
    init(_ entry: PolicyHistoryEntry) {
        self.init(
            kind: entry.kind.description, name: entry.name, version: entry.version, role: entry.role?.description,
            digest: entry.digest?.hex, height: entry.height)
    }
}
