import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The coordinator as an operator runs it: `dsdn-coordinator serve` as a separate process, on the
/// embedded file log, through its HTTP API on a real socket.
@Suite(.serialized) struct ServeProcessTests {
    /// Events acknowledged before a SIGKILL are applied exactly once after a restart, and a rebuild of
    /// the log has the checksum of the live state.
    @Test func acknowledgedEventsSurviveSIGKILLExactlyOnce() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        // A long flush interval and a large batch: acknowledged events sit in the outbox when killed.
        let arguments = ["--da", da, "--no-policy", "--batch-events", "25", "--batch-interval-ms", "60000"]
        var coordinator: ServeProcess? = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: arguments)
        var client = APITestClient(baseURL: coordinator?.baseURL ?? "")
        try await client.waitUntilReady()
        let token = coordinator?.token ?? ""

        // 8 requests of 7 events: 56 events, so two blobs of 25 go out and 6 events wait for the flush.
        var acknowledged: [String] = []
        for request in 0..<8 {
            let ids = (0..<7).map { "node-\(request)-\($0)" }
            let body = ids.map { EventJSON.encode(Fixtures.register($0, zone: "z\(request % 3)")) }.joined(separator: "\n")
            let reply = try await client.post("/v1/events", body: body, token: token)
            #expect(reply.status == 202, "\(reply.body)")
            if reply.status == 202 { acknowledged += ids }
        }
        #expect(acknowledged.count == 56)
        await coordinator?.killHard()
        coordinator = nil

        // Restart on the same data directory and log: the outbox is drained, nothing twice.
        let restarted = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--no-policy", "--batch-interval-ms", "50"])
        client = APITestClient(baseURL: restarted.baseURL)
        try await client.waitUntilReady()
        let state = try await client.waitFor("/v1/state") { ($0["nodes"]?.int64) == 56 && ($0["publish_backlog"]?.int64) == 0 }
        #expect(state.json["nodes"]?.int64 == 56)
        // Exactly once: every acknowledged event was applied one time, no blob was a duplicate or refused.
        #expect(state.json["events_applied"]?.int64 == 56)
        #expect(state.json["blobs_rejected"]?.int64 == 0)
        for id in acknowledged.prefix(3) + acknowledged.suffix(3) {
            #expect(try await client.get("/v1/nodes/\(id)").status == 200, "\(id)")
        }
        let liveChecksum = state.json["checksum"]?.string
        let appliedHeight = state.json["applied_height"]?.int64 ?? 0
        #expect(await restarted.terminate() == 0)

        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--to", "\(appliedHeight)", "--json"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let json = try? parseJSON(rebuilt.stdout)
        #expect(json?["checksum"]?.string == liveChecksum)
        #expect(liveChecksum != nil)
    }

    /// SIGTERM flushes what is pending: a graceful stop never leaves work in the outbox.
    @Test func sigtermFlushesThePendingBatch() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--no-policy", "--batch-interval-ms", "60000"])
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let body = (0..<5).map { EventJSON.encode(Fixtures.register("n\($0)")) }.joined(separator: "\n")
        #expect(try await client.post("/v1/events", body: body, token: coordinator.token).status == 202)
        #expect(await coordinator.terminate() == 0)
        #expect(coordinator.stderr.contains("final flush"))
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        let json = try? parseJSON(rebuilt.stdout)
        #expect(json?["nodes"]?.int64 == 5)
    }

    /// SIGTERM stops a coordinator whose scheduler has placed replicas (each placement ticket has one
    /// follower; a second one used to drop the first's continuation, and the stop hung forever).
    @Test func sigtermStopsACoordinatorThatPlaced() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", "file:" + directory.path("da")])
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let history = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl"), encoding: .utf8)
        #expect(try await client.post("/v1/events?wait=true", body: history, token: coordinator.token).status == 200)
        let placed = try await client.waitFor("/v1/state") {
            ($0["placements_published"]?.int64 ?? 0) > 0 && ($0["publish_backlog"]?.int64) == 0
        }
        #expect((placed.json["placements_published"]?.int64 ?? 0) > 0)
        #expect(await coordinator.terminate() == 0, "\(coordinator.stderr)")
        #expect(!coordinator.stderr.contains("CONTINUATION MISUSE"), "\(coordinator.stderr)")
        #expect(coordinator.stderr.contains("coordinator stopped"))
    }

    /// A second coordinator on the same data directory is refused with one line.
    @Test func aDataDirectoryServesOneCoordinator() async throws {
        let directory = try TemporaryDirectory()
        let first = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", "file:" + directory.path("da"), "--no-policy"])
        let second = try await CoordinatorProcess.run([
            "serve", "--data-dir", directory.path("coordinator"), "--da", "file:" + directory.path("da-2"), "--no-policy",
            "--listen", "127.0.0.1:0",
        ])
        #expect(second.status != 0)
        #expect(second.stderr.contains("in use by another coordinator (pid \(first.pid))"), "\(second.stderr)")
        #expect(await first.terminate() == 0)
    }

    /// Wrong flags are refused before anything starts.
    @Test func badFlagsGetOneLine() async throws {
        let result = try await CoordinatorProcess.run(["serve", "--listen", "nowhere"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--listen must be HOST:PORT"))
        let policy = try await CoordinatorProcess.run([
            "serve", "--policy", "/nonexistent.lua", "--listen", "127.0.0.1:0", "--data-dir", try TemporaryDirectory().path("d"),
        ])
        #expect(policy.status != 0)
        #expect(policy.stderr.contains("nonexistent.lua"))
    }
}

/// Two coordinators on one file-log DA: both follow, both place, and first-wins keeps one placement per
/// replica slot, so they derive the same checksum and every chunk ends with exactly its replicas.
@Suite(.serialized) struct TwoCoordinatorTests {
    @Test func twoCoordinatorsDeriveTheSameStateAndPlaceEachChunkOnce() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        var events: [Event] = []
        for (index, zone) in ["za", "za", "zb", "zb", "zc", "zc"].enumerated() {
            events.append(Fixtures.register("node-\(index)", zone: zone))
        }
        let chunks = (1...20).map { Fixtures.hash(UInt8($0)) }
        for chunk in chunks { events.append(Fixtures.declare(chunk, size: 4096, replicationFactor: 3)) }
        let seed = directory.path("seed.jsonl")
        try Data(EventJSON.encodeLines(events).utf8).write(to: URL(fileURLWithPath: seed))
        let imported = try await CoordinatorProcess.run(["events", "import", seed, "--da", da])
        #expect(imported.status == 0, "\(imported.stderr)")

        let arguments = ["--da", da, "--policy", "policies/zone-spread.lua", "--batch-interval-ms", "50"]
        let first = try await ServeProcess(
            dataDirectory: directory.path("coordinator-a"), arguments: arguments + ["--publisher-id", "coord-a"])
        let second = try await ServeProcess(
            dataDirectory: directory.path("coordinator-b"), arguments: arguments + ["--publisher-id", "coord-b"])
        let clients = [APITestClient(baseURL: first.baseURL), APITestClient(baseURL: second.baseURL)]
        for client in clients { try await client.waitUntilReady() }
        var states: [JSONValue] = []
        for client in clients {
            let reply = try await client.waitFor("/v1/state") {
                ($0["under_replicated_chunks"]?.int64) == 0 && ($0["lag"]?.int64) == 0 && ($0["publish_backlog"]?.int64) == 0
            }
            states.append(reply.json)
        }
        // Let both reach the same head before comparing.
        let head = states.compactMap { $0["applied_height"]?.int64 }.max() ?? 0
        states = []
        for client in clients {
            states.append(try await client.waitFor("/v1/state") { ($0["applied_height"]?.int64 ?? 0) >= head }.json)
        }
        #expect(states[0]["checksum"]?.string == states[1]["checksum"]?.string)
        #expect(states[0]["live_replicas"]?.int64 == 60)
        for chunk in chunks.prefix(5) {
            let reply = try await clients[1].get("/v1/chunks/\(chunk)")
            let replicas = (reply.json["replicas"]?.array ?? [])
            #expect(replicas.count == 3)
            #expect(Set(replicas.compactMap { $0["node_id"]?.string }).count == 3)
        }
        // Each replica slot was placed once: what both published minus what first-wins dropped.
        let published = states.compactMap { $0["placements_published"]?.int64 }.reduce(0, +)
        let superseded = states[0]["placements_superseded"]?.int64 ?? -1
        #expect(published - superseded == 60, "published \(published), superseded \(superseded)")
        #expect(states[0]["blobs_rejected"]?.int64 == 0)
        #expect(await first.terminate() == 0)
        #expect(await second.terminate() == 0)

        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        let json = try? parseJSON(rebuilt.stdout)
        #expect(json?["checksum"]?.string == states[0]["checksum"]?.string)
    }
}

/// The acceptance path end to end through the executable: publish events over HTTP, the consumer
/// applies them, the API shows them, and the scheduling loop publishes a placement for a declared chunk.
@Suite struct ServeEndToEndTests {
    @Test func publishApplyShowAndPlace() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"),
            arguments: ["--da", da, "--policy", "policies/weighted-score.lua", "--batch-interval-ms", "50"])
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let chunk = Fixtures.hash(0xAB)
        let events = [
            Fixtures.register("n1", zone: "za"), Fixtures.register("n2", zone: "zb"), Fixtures.register("n3", zone: "zc"),
            Fixtures.declare(chunk, replicationFactor: 2),
        ]
        let posted = try await client.post("/v1/events?wait=true", body: EventJSON.encodeLines(events), token: coordinator.token)
        #expect(posted.status == 200, "\(posted.body)")
        #expect(try await client.get("/v1/nodes/n2").json["zone"]?.string == "zb")

        let placed = try await client.waitFor("/v1/chunks/\(chunk)") { ($0["live_replicas"]?.int64) == 2 }
        #expect(placed.json["live_replicas"]?.int64 == 2)
        let state = try await client.waitFor("/v1/state") { ($0["placements_published"]?.int64) == 2 }
        #expect(state.json["under_replicated_chunks"]?.int64 == 0)
        #expect(state.json["policy"]?.string == "weighted-score@2")
        let metrics = try await client.get("/metrics")
        #expect(metrics.body.contains("dsdn_placements_total 2"))
        #expect(try await client.get("/health").status == 200)
        #expect(await coordinator.terminate() == 0)
    }

    @Test func memoryDAIsOnlyForServe() async throws {
        let rebuild = try await CoordinatorProcess.run(["rebuild", "--da", "memory:"])
        #expect(rebuild.status != 0)
        #expect(rebuild.stderr.contains("only `serve` takes it"))
    }
}
