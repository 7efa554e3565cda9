import DSDNAPI
import DSDNCore
import DSDNDA
import DSDNInterchange
import DSDNScheduler
import DSDNTestSupport
import Foundation
import Testing

@testable import DSDNService

/// Several coordinators divide the placement work: each chunk has a preferred coordinator among the active
/// ones (rendezvous hashing of the chunk and the ids); the others defer to it by rank, so few placements
/// are superseded (they used to be 45–47 % with two), and first-wins stays the safety net.
@Suite(.serialized) struct PlacementDivisionTests {
    static let policy: Policy = {
        let source = (try? String(contentsOf: repositoryRoot.appendingPathComponent("policies/weighted-score.lua"), encoding: .utf8)) ?? ""
        return (try? Policy.load(source: source, fileName: "weighted-score.lua"))!
    }()

    @Test func ranksAreAPermutationAndAgreeEverywhere() {
        let members = ["coord-a", "coord-b", "coord-c"]
        for byte in 0..<64 {
            let chunk = Fixtures.hash(UInt8(byte))
            let ranks = members.map { PlacementLoop.rank(of: $0, for: chunk, among: members) }
            #expect(ranks.sorted() == [0, 1, 2])
        }
        let preferred = (0..<300).map { byte in
            members.first { PlacementLoop.rank(of: $0, for: sha256([UInt8(byte % 256), UInt8(byte / 256)]), among: members) == 0 }
        }
        for member in members { #expect(preferred.filter { $0 == member }.count > 60, "\(member) is preferred for about a third") }
    }

    /// Returns (placements published by all, superseded) once every chunk is fully replicated.
    func run(coordinators count: Int, chunks: Int) async throws -> (published: Int64, superseded: Int64) {
        let directory = try TemporaryDirectory()
        let memory = MemoryDA()
        var coordinators: [RunningCoordinator] = []
        for index in 0..<count {
            coordinators.append(
                try await RunningCoordinator(
                    directory: directory, policy: Self.policy, publisherID: "coord-\(index)", flushInterval: .milliseconds(20),
                    sharedDA: memory, scheduling: SchedulingOptions(tickInterval: .milliseconds(200))))
        }
        // Nodes from every coordinator; then one warm-up chunk that each, alone as far as it knows, places:
        // from then on all of them are known placers. (Its superseded placements count below.)
        for (index, coordinator) in coordinators.enumerated() {
            let nodes = (0..<3).map { Fixtures.register("n\(index)-\($0)", zone: "z\($0)") }
            let reply = try await coordinator.client.post(
                "/v1/events?wait=true", body: nodes.map(EventJSON.encode).joined(separator: "\n"), token: RunningCoordinator.token)
            #expect(reply.status == 200, "\(reply.body)")
        }
        let warmUp = EventJSON.encode(Fixtures.declare(sha256([0xEE]), replicationFactor: 2))
        #expect(try await coordinators[0].client.post("/v1/events", body: warmUp, token: RunningCoordinator.token).status == 202)
        for coordinator in coordinators {
            _ = try await coordinator.client.waitFor("/v1/state") {
                ($0["chunks"]?.int64) == 1 && ($0["under_replicated_chunks"]?.int64) == 0
            }
        }
        for coordinator in coordinators {
            _ = try await coordinator.client.waitFor("/v1/state") { ($0["publish_backlog"]?.int64) == 0 }
        }
        let declarations = (0..<chunks).map { Fixtures.declare(sha256([UInt8($0 % 256), UInt8($0 / 256), 0x5A]), replicationFactor: 2) }
        for start in stride(from: 0, to: chunks, by: 30) {
            let part = declarations[start..<min(chunks, start + 30)]
            let declared = try await coordinators[0].client.post(
                "/v1/events", body: part.map(EventJSON.encode).joined(separator: "\n"), token: RunningCoordinator.token)
            #expect(declared.status == 202)
        }
        var published: Int64 = 0
        var superseded: Int64 = 0
        for coordinator in coordinators {
            let state = try await coordinator.client.waitFor("/v1/state", attempts: 300) {
                ($0["chunks"]?.int64) == Int64(chunks + 1) && ($0["under_replicated_chunks"]?.int64) == 0
                    && ($0["publish_backlog"]?.int64) == 0
            }
            #expect(state.json["under_replicated_chunks"]?.int64 == 0, "\(state.body)")
            published += state.json["placements_published"]?.int64 ?? 0
            superseded = state.json["placements_superseded"]?.int64 ?? 0
        }
        for coordinator in coordinators { try await coordinator.stop() }
        return (published, superseded)
    }

    /// The preferred coordinator is gone (stopped, still a member): the other places its chunks once they
    /// waited the deferral.
    @Test func anAbsentPreferredCoordinatorsChunksArePlacedAfterTheDeferral() async throws {
        let directory = try TemporaryDirectory()
        let memory = MemoryDA()
        let scheduling = SchedulingOptions(deferral: .milliseconds(300), tickInterval: .milliseconds(50))
        let a = try await RunningCoordinator(
            directory: directory, policy: Self.policy, publisherID: "coord-a", sharedDA: memory, scheduling: scheduling)
        let nodes = (0..<3).map { Fixtures.register("n\($0)", zone: "z\($0)") }
        #expect(
            try await a.client.post(
                "/v1/events?wait=true", body: nodes.map(EventJSON.encode).joined(separator: "\n"), token: RunningCoordinator.token
            )
            .status == 200)
        // A warm-up chunk A places alone (B starts after it landed), so B reads A as a placer from the DA,
        // whatever the machine's load; then A goes away.
        #expect(
            try await a.client.post(
                "/v1/events", body: EventJSON.encode(Fixtures.declare(sha256([0xEE]), replicationFactor: 2)),
                token: RunningCoordinator.token
            ).status == 202)
        _ = try await a.client.waitFor("/v1/state") {
            ($0["chunks"]?.int64) == 1 && ($0["under_replicated_chunks"]?.int64) == 0 && ($0["publish_backlog"]?.int64) == 0
        }
        let b = try await RunningCoordinator(
            directory: directory, policy: Self.policy, publisherID: "coord-b", sharedDA: memory, scheduling: scheduling)
        _ = try await b.client.waitFor("/v1/state") { ($0["chunks"]?.int64) == 1 && ($0["under_replicated_chunks"]?.int64) == 0 }
        #expect(await b.node.consumer.placers(seenSince: 1).contains("coord-a"))
        try await a.stop()
        let chunks = (0..<20).map { Fixtures.declare(sha256([UInt8($0), 0xB0]), replicationFactor: 2) }
        let ranks = chunks.map { event -> Int in
            guard case let .chunkDeclared(hash, _, _, _, _) = event else { return -1 }
            return PlacementLoop.rank(of: "coord-b", for: hash, among: ["coord-a", "coord-b"])
        }
        #expect(ranks.contains(1), "some chunks prefer the stopped coordinator")
        #expect(
            try await b.client.post(
                "/v1/events", body: chunks.map(EventJSON.encode).joined(separator: "\n"), token: RunningCoordinator.token
            )
            .status == 202)
        let state = try await b.client.waitFor("/v1/state", attempts: 600) {
            ($0["chunks"]?.int64) == 21 && ($0["under_replicated_chunks"]?.int64) == 0
        }
        #expect(state.json["under_replicated_chunks"]?.int64 == 0, "\(state.body)")
        try await b.stop()
    }

    @Test(arguments: [2, 3])
    func fewPlacementsAreSuperseded(coordinators: Int) async throws {
        let (published, superseded) = try await run(coordinators: coordinators, chunks: 60)
        #expect(published >= 120)
        print("placement division: \(coordinators) coordinators, \(published) placements published, \(superseded) superseded")
        #expect(Double(superseded) < 0.05 * Double(published), "\(superseded) of \(published) placements superseded")
    }
}
