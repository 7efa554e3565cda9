import DSDNAPI
import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNInterchange
import DSDNJSON
import DSDNRuntime
import DSDNScheduler
import DSDNTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import DSDNService

/// A coordinator (consumer, publisher with outbox, scheduling loop, Hummingbird API) running in this
/// process on a real file log and a real socket.
final class RunningCoordinator: Sendable {
    let node: CoordinatorNode
    let client: APITestClient
    let group: CoordinatorGroup
    let task: Task<Void, any Error>
    let log: FileLogDA?
    /// The API's port.
    let port: Int?

    static let token = "secret-token"

    init(
        directory: TemporaryDirectory, policy: Policy? = nil, publisherID: String = "coordinator-a", batchSize: Int = 100,
        flushInterval: Duration = .milliseconds(20), sharedDA: (any DALayer)? = nil,
        finalFlushTimeout: Duration = .seconds(30), configureAPI: (inout APIConfiguration) -> Void = { _ in },
        scheduling: SchedulingOptions = SchedulingOptions()
    ) async throws {
        log = sharedDA == nil ? try FileLogDA(directory: directory.path("da")) : nil
        let da: any DALayer = try sharedDA ?? (log ?? FileLogDA(directory: directory.path("da")))
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        var configuration = CoordinatorConfiguration(
            dataDirectory: directory.path("coordinator-\(publisherID)"), namespace: DANamespace(name: "service-tests"),
            publisherID: publisherID, defaultPolicy: policy,
            publisher: EventPublisher.Options(batchSize: batchSize, flushInterval: flushInterval),
            api: APIConfiguration(host: "127.0.0.1", port: 0, token: Self.token, maxBodyBytes: 64 * 1024, maxEventsPerRequest: 50))
        configuration.finalFlushTimeout = finalFlushTimeout
        configureAPI(&configuration.api)
        configuration.scheduling = scheduling
        node = try CoordinatorNode(configuration: configuration, da: da, logger: logger)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let application = CoordinatorAPI.application(node: node, logger: logger) { port in portContinuation.yield(port) }
        group = node.serviceGroup(with: [application])
        let group = self.group
        task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServeProcessError("the API never listened") }
        self.port = port
        client = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        await node.waitUntilReady()
        if policy != nil { await node.waitUntilPolicyActive() }
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        log?.close()
    }
}

@Suite struct CoordinatorAPITests {
    let smallCluster: String = {
        // The example ships with the repository; reading it cannot fail in a checkout.
        (try? String(contentsOf: repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl"), encoding: .utf8)) ?? ""
    }()

    @Test func publishedEventsAreAppliedAndShownByTheAPI() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory)
        let client = coordinator.client

        let health = try await client.get("/health")
        #expect(health.status == 200)
        #expect(health.json["status"]?.string == "ready")
        #expect(health.json["da"]?["ready"]?.bool == true)

        let posted = try await client.post("/v1/events?wait=true", body: smallCluster, token: RunningCoordinator.token)
        #expect(posted.status == 200, "\(posted.body)")
        #expect(posted.json["accepted"]?.int64 == 48)
        #expect((posted.json["height"]?.int64 ?? 0) >= 1)

        let state = try await client.get("/v1/state")
        #expect(state.json["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        #expect(state.json["nodes"]?.int64 == 6)
        #expect(state.json["chunks"]?.int64 == 7)

        let nodes = try await client.get("/v1/nodes?zone=eu-west")
        #expect((nodes.json["nodes"]?.array ?? []).count == 2)
        let node = try await client.get("/v1/nodes/fra-1")
        #expect(node.json["zone"]?.string == "eu-central")
        #expect(try await client.get("/v1/nodes/nope").status == 404)
        let zones = try await client.get("/v1/zones")
        #expect((zones.json["zones"]?.array ?? []).count == 3)

        let events = try EventJSON.decodeLines(smallCluster)
        guard case let .chunkDeclared(hash, _, _, _, _) = events.first(where: { $0.type == .chunkDeclared }) else {
            Issue.record("the example declares no chunk")
            return
        }
        let chunk = try await client.get("/v1/chunks/\(hash)")
        #expect(chunk.status == 200)
        #expect(chunk.json["hash"]?.string == hash.description)
        #expect(try await client.get("/v1/chunks/xyz").status == 400)

        let metrics = try await client.get("/metrics")
        #expect(metrics.body.contains("dsdn_events_applied_total 48"))
        #expect(metrics.body.contains("dsdn_da_applied_height"))
        try await coordinator.stop()

        // The log holds exactly what the coordinator derived: a rebuild gives the same checksum.
        let log = try FileLogDA.openReadOnly(directory: directory.path("da"))
        defer { log.close() }
        let rebuilt = try await StateRebuilder(da: log, namespace: DANamespace(name: "service-tests")).rebuild()
        #expect(rebuilt.machine.state.checksum().description == GoldenVectors.smallClusterChecksum)
    }

    @Test func submissionsNeedTheTokenValidEventsAndBoundedBodies() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory)
        let client = coordinator.client
        let register = EventJSON.encode(Fixtures.register("n1"))

        let anonymous = try await client.post("/v1/events", body: register)
        #expect(anonymous.status == 401)
        #expect(anonymous.json["error"] != nil)
        #expect(try await client.post("/v1/events", body: register, token: "wrong").status == 401)

        let malformed = try await client.post("/v1/events", body: "{\"type\":\"NodeRegistered\"}", token: RunningCoordinator.token)
        #expect(malformed.status == 400)

        // Refused against the state: nothing is accepted, nothing is published.
        let invalid = try await client.post(
            "/v1/events", body: EventJSON.encode(Fixtures.replica(Fixtures.hash(1), on: "n1", index: 0)), token: RunningCoordinator.token)
        #expect(invalid.status == 422)
        #expect(invalid.json["error"]?["code"]?.string == "invalid_event")

        let tooMany = (0..<51).map { EventJSON.encode(Fixtures.register("n\($0)")) }.joined(separator: "\n")
        #expect(try await client.post("/v1/events", body: tooMany, token: RunningCoordinator.token).status == 413)
        let huge = String(repeating: " ", count: 70 * 1024) + register
        #expect(try await client.post("/v1/events", body: huge, token: RunningCoordinator.token).status == 413)

        // A declaration accepted earlier (not yet applied) makes a later replica valid.
        let accepted = try await client.post("/v1/events", body: register, token: RunningCoordinator.token)
        #expect(accepted.status == 202)
        let replica =
            EventJSON.encode(Fixtures.declare(Fixtures.hash(2))) + "\n"
            + EventJSON.encode(Fixtures.replica(Fixtures.hash(2), on: "n1", index: 0))
        #expect(try await client.post("/v1/events?wait=true", body: replica, token: RunningCoordinator.token).status == 200)
        let state = try await client.get("/v1/state")
        #expect(state.json["blobs_rejected"]?.int64 == 0)
        #expect(state.json["live_replicas"]?.int64 == 1)
        #expect(try await client.get("/v1/unknown").status == 404)
        try await coordinator.stop()
    }

    @Test func theSchedulingLoopPlacesADeclaredChunkWithProvenance() async throws {
        let directory = try TemporaryDirectory()
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("policies/zone-spread.lua"), encoding: .utf8)
        let policy = try Policy.load(source: source, fileName: "zone-spread.lua")
        let coordinator = try await RunningCoordinator(directory: directory, policy: policy)
        let client = coordinator.client
        let nodes = [("a1", "za"), ("a2", "za"), ("b1", "zb"), ("c1", "zc")].map { Fixtures.register($0.0, zone: $0.1) }
        let chunk = Fixtures.hash(0x42)
        let body = (nodes + [Fixtures.declare(chunk, replicationFactor: 3)]).map(EventJSON.encode).joined(separator: "\n")
        #expect(try await client.post("/v1/events?wait=true", body: body, token: RunningCoordinator.token).status == 200)

        let placed = try await client.waitFor("/v1/chunks/\(chunk)") { ($0["live_replicas"]?.int64) == 3 }
        #expect(placed.json["live_replicas"]?.int64 == 3)
        let holders = Set((placed.json["replicas"]?.array ?? []).compactMap { $0["node_id"]?.string })
        // zone-spread puts the three replicas in three zones.
        #expect(holders.count == 3)
        #expect(!holders.isSuperset(of: ["a1", "a2"]))

        // The published events name the policy and the input digest.
        try await coordinator.stop()
        let log = try FileLogDA.openReadOnly(directory: directory.path("da"))
        defer { log.close() }
        var provenances: [PlacementProvenance] = []
        for height in 1...(try await log.head()) {
            for blob in try await log.blobs(of: DANamespace(name: "service-tests"), at: height) {
                for event in try BlobCodec.decode(blob.data).events {
                    if case let .replicaAdded(_, _, _, _, provenance?) = event { provenances.append(provenance) }
                }
            }
        }
        #expect(provenances.count == 3)
        #expect(provenances.allSatisfy { $0.policyName == "zone-spread" && $0.policySourceHash == policy.sourceHash })

        // Re-running the policy on the recorded inputs reproduces the decision (decision as event).
        #expect(Set(provenances.map(\.inputDigest)).count == 1)
    }

    @Test func previewExplainsAPlacementWithoutPublishing() async throws {
        let directory = try TemporaryDirectory()
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("policies/weighted-score.lua"), encoding: .utf8)
        let coordinator = try await RunningCoordinator(
            directory: directory, policy: try Policy.load(source: source, fileName: "weighted-score.lua"))
        let client = coordinator.client
        let body = [Fixtures.register("n1"), Fixtures.register("n2")].map(EventJSON.encode).joined(separator: "\n")
        #expect(try await client.post("/v1/events?wait=true", body: body, token: RunningCoordinator.token).status == 200)
        let preview = try await client.post(
            "/v1/placement/preview", body: #"{"size_bytes": 1000, "replication_factor": 2, "explain": true}"#)
        #expect(preview.status == 200, "\(preview.body)")
        #expect(preview.json["chosen"]?.array?.count == 2)
        #expect(preview.json["verdicts"]?.array?.count == 2)
        let before = try await client.get("/v1/state")
        #expect(before.json["live_replicas"]?.int64 == 0)
        let bad = try await client.post("/v1/placement/preview", body: #"{"size_bytes": 0}"#)
        #expect(bad.status == 400)
        let unknown = try await client.post("/v1/placement/preview", body: #"{"chunk_hash": "\#(Fixtures.hash(9))"}"#)
        #expect(unknown.status == 404)
        try await coordinator.stop()
    }
}

/// An accepted event that another writer made invalid before it landed costs only itself: the rest of
/// its refused blob is published again.
@Suite struct RefusedBlobRecoveryTests {
    @Test func theValidEventsOfARefusedOwnBlobArePublishedAgain() async throws {
        let directory = try TemporaryDirectory()
        let memory = MemoryDA()
        let chunk = Fixtures.hash(0x77)
        // Flushes happen only when the test asks.
        let x = try await RunningCoordinator(directory: directory, publisherID: "coord-x", flushInterval: .seconds(3_600), sharedDA: memory)
        let y = try await RunningCoordinator(directory: directory, publisherID: "coord-y", flushInterval: .seconds(3_600), sharedDA: memory)
        let setup = [Fixtures.register("n1"), Fixtures.declare(chunk)].map(EventJSON.encode).joined(separator: "\n")
        #expect(try await x.client.post("/v1/events", body: setup, token: RunningCoordinator.token).status == 202)
        await x.node.publisher.flush()
        _ = try await x.client.waitFor("/v1/state") { ($0["chunks"]?.int64) == 1 }
        _ = try await y.client.waitFor("/v1/state") { ($0["chunks"]?.int64) == 1 }

        // Y removes the chunk; X, not knowing yet, accepts a replica of it together with a registration.
        #expect(
            try await y.client.post("/v1/events", body: EventJSON.encode(.chunkRemoved(hash: chunk)), token: RunningCoordinator.token)
                .status == 202)
        let mixed = [Fixtures.register("n2"), Fixtures.replica(chunk, on: "n1", index: 0)].map(EventJSON.encode).joined(separator: "\n")
        let accepted = try await x.client.post("/v1/events", body: mixed, token: RunningCoordinator.token)
        #expect(accepted.status == 202)
        let ids = try accepted.decode(EventsResponse.self).ids
        #expect(try await x.client.get("/v1/events/\(ids[1])").decode(EventFateResponse.self).fate == "pending")
        await y.node.publisher.flush()
        await x.node.publisher.flush()

        // X notices its refused blob and queues the valid event again; the next flush publishes it.
        _ = try await x.client.waitFor("/v1/state") { ($0["events_republished"]?.int64) == 1 }
        await x.node.publisher.flush()
        let state = try await x.client.waitFor("/v1/state") { ($0["nodes"]?.int64) == 2 && ($0["publish_backlog"]?.int64) == 0 }
        #expect(state.json["own_blobs_refused"]?.int64 == 1)
        #expect(state.json["events_dropped"]?.int64 == 1)
        #expect(state.json["events_republished"]?.int64 == 1)
        #expect(state.json["chunks"]?.int64 == 0)
        #expect(try await x.client.get("/v1/nodes/n2").status == 200)
        // Each acknowledged event has a fate its submitter can read by id: applied, or refused with the
        // reason and the height where the DA rejected its blob.
        let registered = try await x.client.waitFor("/v1/events/\(ids[0])") { $0["fate"]?.string == "applied" }
        #expect(try registered.decode(EventFateResponse.self).height != nil)
        let refused = try await x.client.get("/v1/events/\(ids[1])").decode(EventFateResponse.self)
        #expect(refused.fate == "refused")
        #expect(refused.reason?.contains("does not exist") == true, "\(refused)")
        let rejection = try #require(state.json["recent_rejections"]?.array?.first)
        #expect(rejection["height"]?.int64 == refused.height.map(Int64.init))
        #expect(try await x.client.get("/v1/events/999999").status == 404)
        let other = try await y.client.waitFor("/v1/state") { ($0["nodes"]?.int64) == 2 }
        #expect(other.json["checksum"]?.string == state.json["checksum"]?.string)
        try await x.stop()
        try await y.stop()
    }
}

/// A submission is checked after everything this coordinator has enqueued, its own placements included:
/// a client's replica for a slot the scheduler is filling is refused at once (422), instead of being
/// acknowledged and then refused on the DA.
@Suite struct SubmissionsSeePlacementsTests {
    @Test func aReplicaForASlotBeingPlacedIsRefusedAtSubmission() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory, flushInterval: .seconds(3_600))
        let chunk = Fixtures.hash(0x42)
        let setup = [Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.declare(chunk, replicationFactor: 1)]
        #expect(
            try await coordinator.client.post(
                "/v1/events?wait=true", body: setup.map(EventJSON.encode).joined(separator: "\n"), token: RunningCoordinator.token
            ).status == 200)
        // The scheduler's placement, enqueued and not yet published.
        let placement = Event.replicaAdded(
            hash: chunk, nodeID: "n1", replicaIndex: 0, addedAtMillis: 1,
            provenance: PlacementProvenance(policyName: "test", policyVersion: 1, policySourceHash: .zero, inputDigest: .zero))
        _ = try await coordinator.node.intake.enqueueInternal([placement])
        let client = try await coordinator.client.post(
            "/v1/events", body: EventJSON.encode(Fixtures.replica(chunk, on: "n2", index: 0)), token: RunningCoordinator.token)
        #expect(client.status == 422, "\(client.body)")
        try await coordinator.stop()
    }
}

/// A stop while the DA is down keeps what it could not flush in the outbox; the next start publishes it.
@Suite struct OutboxAcrossRestartsTests {
    @Test func eventsPendingAtAStopDuringAnOutageArePublishedByTheNextStart() async throws {
        let directory = try TemporaryDirectory()
        let memory = MemoryDA()
        let first = try await RunningCoordinator(
            directory: directory, flushInterval: .seconds(3_600), sharedDA: memory, finalFlushTimeout: .milliseconds(300))
        let body = (0..<4).map { EventJSON.encode(Fixtures.register("n\($0)")) }.joined(separator: "\n")
        #expect(try await first.client.post("/v1/events", body: body, token: RunningCoordinator.token).status == 202)
        await memory.setDown("outage")
        try await first.stop()
        #expect(first.node.outbox.outstandingCount == 4)
        await memory.setDown(nil)
        #expect(try await memory.head() == 0)

        let second = try await RunningCoordinator(directory: directory, flushInterval: .milliseconds(20), sharedDA: memory)
        let state = try await second.client.waitFor("/v1/state") { ($0["nodes"]?.int64) == 4 }
        #expect(state.json["nodes"]?.int64 == 4)
        #expect(state.json["events_applied"]?.int64 == 4)
        #expect(state.json["outbox_events"]?.int64 == 0)
        try await second.stop()
    }
}
