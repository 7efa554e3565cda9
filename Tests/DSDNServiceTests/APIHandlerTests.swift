import DSDNAPI
import DSDNCore
import DSDNDA
import DSDNInterchange
import DSDNJSON
import DSDNRuntime
import DSDNScheduler
import DSDNTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Testing

@testable import DSDNService

/// The API's handlers through Hummingbird's router test framework (no socket): a coordinator node on a
/// memory DA runs in this process; requests go straight to the router.
@Suite struct APIHandlerTests {
    static let token = "secret-token"

    /// Runs `test` against the routes of a ready coordinator.
    func withRouter(
        policy: Policy? = nil, configureAPI: (inout APIConfiguration) -> Void = { _ in },
        _ test: @Sendable (CoordinatorNode, any TestClientProtocol) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        var api = APIConfiguration(host: "127.0.0.1", port: 0, token: Self.token, maxBodyBytes: 64 * 1024, maxEventsPerRequest: 50)
        configureAPI(&api)
        let configuration = CoordinatorConfiguration(
            dataDirectory: directory.path("coordinator"), namespace: DANamespace(name: "handler-tests"), publisherID: "coordinator-a",
            defaultPolicy: policy, publisher: EventPublisher.Options(batchSize: 100, flushInterval: .milliseconds(20)), api: api)
        let node = try CoordinatorNode(configuration: configuration, da: MemoryDA(), logger: logger)
        let group = node.serviceGroup()
        let running = Task { try await group.run() }
        await node.waitUntilReady()
        if policy != nil { await node.waitUntilPolicyActive() }
        do {
            try await CoordinatorAPI.application(node: node, logger: logger).test(.router) { client in try await test(node, client) }
        } catch {
            await group.triggerGracefulShutdown()
            try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }

    static func post(_ client: any TestClientProtocol, _ uri: String, _ body: String, token: String? = token) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func error(_ response: TestResponse) throws -> APIErrorBody.Detail {
        try APIJSON.decode(APIErrorBody.self, from: String(buffer: response.body)).error
    }

    /// A JSON array whose elements are not event objects is a 400 naming the element (JSONSerialization
    /// used to trap on `[1]`, taking the whole coordinator down).
    @Test func aJSONArrayOfNonObjectsIsRefusedWithOneLine() async throws {
        try await withRouter { _, client in
            let number = try await Self.post(client, "/v1/events", "[1]")
            #expect(number.status == .badRequest)
            #expect(try Self.error(number) == APIErrorBody.Detail(code: "invalid_json", message: "element 0 is not a JSON object"))

            let valid = EventJSON.encode(Fixtures.register("n1"))
            let mixed = try await Self.post(client, "/v1/events", "[\(valid), \"x\"]")
            #expect(mixed.status == .badRequest)
            #expect(try Self.error(mixed).message == "element 1 is not a JSON object")

            let null = try await Self.post(client, "/v1/events", "[\(valid), null]")
            #expect(try Self.error(null).message == "element 1 is not a JSON object")

            let typo = try await Self.post(client, "/v1/events", #"[{"type":"NodeUnregistered","node_id":"n1","nod":1}]"#)
            #expect(typo.status == .badRequest)
            #expect(try Self.error(typo).message == "element 0: unknown field nod for NodeUnregistered")

            let broken = try await Self.post(client, "/v1/events", "[{")
            #expect(
                try Self.error(broken).message
                    == "the body starts with [ but is not a JSON array: invalid JSON at column 3: unexpected end, expected a key")

            let accepted = try await Self.post(client, "/v1/events?wait=true", "[\(valid)]")
            #expect(accepted.status == .ok, "\(String(buffer: accepted.body))")
            let answer = try APIJSON.decode(EventsResponse.self, from: String(buffer: accepted.body))
            #expect(answer.accepted == 1 && answer.durable && answer.height != nil)
        }
    }

    /// Fields the API writes as `null` stay `null`; fields it leaves out stay out; bodies end with a newline.
    @Test func wireFormatKeepsNullsAndAbsentFields() async throws {
        try await withRouter { _, client in
            let state = try await client.execute(uri: "/v1/state", method: .get)
            let stateText = String(buffer: state.body)
            #expect(stateText.contains(#""policy":null"#))
            #expect(stateText.hasSuffix("}\n"))
            #expect(state.headers[.contentType] == "application/json")

            let health = try await client.execute(uri: "/health", method: .get)
            let healthJSON = try APIJSON.decode(JSONValue.self, from: String(buffer: health.body))
            #expect(healthJSON["da"]?.object?.keys.sorted() == ["detail", "head", "ready"])
            #expect(healthJSON["failure"] == nil)

            let hash = Fixtures.hash(7)
            let events = [Fixtures.register("n1"), Fixtures.declare(hash)].map(EventJSON.encode).joined(separator: "\n")
            #expect(try await Self.post(client, "/v1/events?wait=true", events).status == .ok)
            let node = try APIJSON.decode(
                JSONValue.self, from: String(buffer: try await client.execute(uri: "/v1/nodes/n1", method: .get).body))
            #expect(node["stats"] == nil)
            #expect(node["zone"]?.string == "zone-a")
            let chunk = String(buffer: try await client.execute(uri: "/v1/chunks/\(hash)", method: .get).body)
            #expect(chunk.contains(#""da_commitment":null"#))
            let nodes = try APIJSON.decode(
                NodesResponse.self, from: String(buffer: try await client.execute(uri: "/v1/nodes?limit=5", method: .get).body))
            #expect(nodes.count == 1 && nodes.nextAfter == nil)
            let badLimit = try await client.execute(uri: "/v1/nodes?limit=0", method: .get)
            #expect(badLimit.status == .badRequest)
            #expect(try Self.error(badLimit).message == "limit must be a positive integer")
        }
    }

    /// The preview decodes its body strictly: unknown fields and wrongly typed values are a 400 naming
    /// the field; `params` map to policy parameters by their JSON type.
    @Test func previewBodiesAreDecodedStrictly() async throws {
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("policies/weighted-score.lua"), encoding: .utf8)
        let policy = try Policy.load(source: source, fileName: "weighted-score.lua")
        try await withRouter(policy: policy) { _, client in
            let events = [Fixtures.register("n1"), Fixtures.register("n2")].map(EventJSON.encode).joined(separator: "\n")
            #expect(try await Self.post(client, "/v1/events?wait=true", events).status == .ok)

            let unknown = try await Self.post(client, "/v1/placement/preview", #"{"size_bytes": 1000, "replication_factor": 2, "wnat": 1}"#)
            #expect(unknown.status == .badRequest)
            #expect(try Self.error(unknown) == APIErrorBody.Detail(code: "invalid_request", message: "unknown field wnat"))

            let wrongType = try await Self.post(client, "/v1/placement/preview", #"{"size_bytes": "1000", "replication_factor": 2}"#)
            #expect(wrongType.status == .badRequest)
            #expect(try Self.error(wrongType).message == "size_bytes must be a non-negative integer")

            let notAnObject = try await Self.post(client, "/v1/placement/preview", "[]")
            #expect(try Self.error(notAnObject) == APIErrorBody.Detail(code: "invalid_json", message: "the body must be a JSON object"))

            let nullParam = try await Self.post(
                client, "/v1/placement/preview", #"{"size_bytes": 1000, "replication_factor": 2, "params": {"min_ram_mb": null}}"#)
            #expect(try Self.error(nullParam).message == "params.min_ram_mb must be a number, a boolean or a string")

            let typed = try await Self.post(
                client, "/v1/placement/preview",
                #"{"size_bytes": 1000, "replication_factor": 2, "params": {"min_ram_mb": 0}, "explain": true}"#)
            #expect(typed.status == .ok, "\(String(buffer: typed.body))")
            let answer = try APIJSON.decode(PreviewResponse.self, from: String(buffer: typed.body))
            #expect(answer.chosen.count == 2)
            #expect(answer.verdicts?.count == 2)

            // A string stays a string: a number parameter given as "0" is a type error of the policy's.
            let stringParam = try await Self.post(
                client, "/v1/placement/preview", #"{"size_bytes": 1000, "replication_factor": 2, "params": {"min_ram_mb": "0"}}"#)
            #expect(stringParam.status == .unprocessableContent, "\(String(buffer: stringParam.body))")
        }
    }
}

@Suite struct ParameterOverrideTests {
    @Test func overridesParseNameAndTypedValue() throws {
        #expect(try ParameterValue.override(parsing: "a=1") == ("a", .integer(1)))
        #expect(try ParameterValue.override(parsing: "a=1.5").value == .float(1.5))
        #expect(try ParameterValue.override(parsing: "flag=true").value == .bool(true))
        #expect(try ParameterValue.override(parsing: "s=x=y") == ("s", .string("x=y")))
        #expect(try ParameterValue.override(parsing: "empty=") == ("empty", .string("")))
        #expect(throws: ParameterOverrideError.self) { try ParameterValue.override(parsing: "novalue") }
    }

    @Test func jsonParametersMapByType() {
        #expect(ParameterValue(json: .uint(3)) == .integer(3))
        #expect(ParameterValue(json: .int(-3)) == .integer(-3))
        #expect(ParameterValue(json: .double(0.5)) == .float(0.5))
        #expect(ParameterValue(json: .bool(false)) == .bool(false))
        #expect(ParameterValue(json: .string("true")) == .string("true"))
        #expect(ParameterValue(json: .null) == nil)
        #expect(ParameterValue(json: .array([])) == nil)
    }
}
