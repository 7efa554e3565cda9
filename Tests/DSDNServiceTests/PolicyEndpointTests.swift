import DSDNAPI
import DSDNCore
import DSDNJSON
import DSDNScheduler
import DSDNService
import DSDNTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The token-protected policy endpoints: each builds the policy event, checks it as the CLI does, and
/// answers like `POST /v1/events`; bad requests get one line and change nothing.
@Suite struct PolicyEndpointTests {
    static func pack(_ name: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("policies/\(name).lua"), encoding: .utf8)
    }

    static func json(_ value: some Encodable) throws -> String { String(decoding: try APIJSON.encode(value), as: UTF8.self) }

    @Test func publishActivateAndTuneThroughTheAPI() async throws {
        let policy = try Policy.load(source: try Self.pack("weighted-score"), fileName: "weighted-score.lua")
        try await APIHandlerTests().withRouter(policy: policy) { _, client in
            let body = try Self.json(PolicyPublishRequest(source: try Self.pack("zone-spread"), role: "placement"))
            let anonymous = try await APIHandlerTests.post(client, "/v1/policies?wait=true", body, token: nil)
            #expect(anonymous.status == .unauthorized)

            let published = try await APIHandlerTests.post(client, "/v1/policies?wait=true", body)
            #expect(published.status == .ok, "\(String(buffer: published.body))")
            let registry = try APIJSON.decode(
                PoliciesResponse.self, from: String(buffer: try await client.execute(uri: "/v1/policies", method: .get).body))
            #expect(registry.placement == "zone-spread@2")

            let broken = try await APIHandlerTests.post(
                client, "/v1/policies", try Self.json(PolicyPublishRequest(source: "return { name = \"x\", version = 1, api = 1 }")))
            #expect(broken.status == .unprocessableContent)
            #expect(
                try APIHandlerTests.error(broken)
                    == APIErrorBody.Detail(
                        code: "policy_refused", message: "not published: invalid_result: policy.lua: x: missing score hook (a function)"))

            let unknown = try await APIHandlerTests.post(client, "/v1/policies/zone-spread/activate?wait=true", #"{"version": 9}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try APIHandlerTests.error(unknown).message.contains("policy zone-spread@9 is not published"))

            let back = try await APIHandlerTests.post(client, "/v1/policies/weighted-score/activate?wait=true", #"{"version": 2}"#)
            #expect(back.status == .ok, "\(String(buffer: back.body))")

            let tuned = try await APIHandlerTests.post(
                client, "/v1/policies/weighted-score/params?wait=true", #"{"params": {"w_latency": 5, "require_stats": true}}"#)
            #expect(tuned.status == .ok, "\(String(buffer: tuned.body))")
            let detail = try APIJSON.decode(
                PolicyResponse.self, from: String(buffer: try await client.execute(uri: "/v1/policies/weighted-score", method: .get).body))
            let values = try #require(detail.versions.first).params
            #expect(values.first { $0.name == "w_latency" }?.value.double == 5)
            #expect(values.first { $0.name == "w_latency" }?.type == "number")
            #expect(values.first { $0.name == "require_stats" }?.value == .bool(true))
            #expect(detail.placement == "weighted-score@2")

            let wrongType = try await APIHandlerTests.post(client, "/v1/policies/weighted-score/params", #"{"params": {"w_latency": "x"}}"#)
            #expect(
                try APIHandlerTests.error(wrongType)
                    == APIErrorBody.Detail(code: "invalid_request", message: "params.w_latency must be a number"))
            let unknownParameter = try await APIHandlerTests.post(client, "/v1/policies/weighted-score/params", #"{"params": {"nope": 1}}"#)
            #expect(try APIHandlerTests.error(unknownParameter).message.hasPrefix("unknown parameter nope of weighted-score@2 (known: "))
            let unknownField = try await APIHandlerTests.post(
                client, "/v1/policies/weighted-score/activate", #"{"version": 2, "rol": "shadow"}"#)
            #expect(try APIHandlerTests.error(unknownField) == APIErrorBody.Detail(code: "invalid_request", message: "unknown field rol"))
            let noPolicy = try await APIHandlerTests.post(client, "/v1/policies/nothing/params", #"{"params": {"a": 1}}"#)
            #expect(noPolicy.status == .notFound)

            // Strict JSON: a duplicate key or a leading zero is refused, never read leniently.
            let duplicate = try await APIHandlerTests.post(client, "/v1/policies/weighted-score/activate", #"{"version":2,"version":9}"#)
            #expect(
                try APIHandlerTests.error(duplicate)
                    == APIErrorBody.Detail(code: "invalid_json", message: #"invalid JSON at column 14: duplicate key "version""#))
            let leadingZero = try await APIHandlerTests.post(client, "/v1/policies/weighted-score/params", #"{"params":{"min_cpu":01}}"#)
            #expect(try APIHandlerTests.error(leadingZero).message == "invalid JSON at column 23: a number must not have a leading zero")
            let fraction = try await APIHandlerTests.post(
                client, "/v1/policies/weighted-score/params?wait=true", #"{"params":{"w_io":2.25e0}}"#)
            #expect(fraction.status == .ok, "\(String(buffer: fraction.body))")
        }
    }
}
