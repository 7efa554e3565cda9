import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The crash matrix: `serve` is killed with SIGKILL at seeded points while a client publishes through the
/// API and the scheduler places, and restarted on the same data directory and log, again and again. At the
/// end every acknowledged event is applied exactly once (read back from the DA with `events export`), a
/// rebuild equals the live checksum, and the log opens.
///
/// CI runs 50 kills from seed 1. The long run is one command (docs/reliability.md):
/// `DSDN_CRASH_KILLS=500 DSDN_CRASH_SEED=7 swift test --filter CrashMatrixTests`; it prints one summary line.
@Suite(.serialized) struct CrashMatrixTests {
    static var kills: Int { ProcessInfo.processInfo.environment["DSDN_CRASH_KILLS"].flatMap(Int.init) ?? 50 }
    static var seed: UInt64 { ProcessInfo.processInfo.environment["DSDN_CRASH_SEED"].flatMap(UInt64.init) ?? 1 }

    @Test func acknowledgedEventsSurviveRepeatedKillsExactlyOnce() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let dataDirectory = directory.path("coordinator")
        // Small batches and a short interval: blobs are being sealed, submitted and included when a kill lands.
        let arguments = ["--da", da, "--batch-events", "5", "--batch-interval-ms", "10"]
        var generator = SeededGenerator(seed: Self.seed)
        var acknowledged: [Event] = []
        var requests = 0
        var refusedWhileStarting = 0
        // Starts that found work in the outbox a kill left (sealed blobs or unsealed events).
        var recoveries = 0

        for kill in 0..<Self.kills {
            let coordinator = try await ServeProcess(dataDirectory: dataDirectory, arguments: arguments)
            let client = APITestClient(baseURL: coordinator.baseURL)
            try await client.waitUntilReady()
            if coordinator.stderr.contains("outbox: republishing after restart") { recoveries += 1 }
            // The kill point: after 1…6 acknowledged requests, then a pause of 0…20 ms (the publisher is
            // mid-batch, mid-submit or mid-inclusion).
            let requestsBeforeKill = 1 + Int(generator.below(6))
            let pause = Int(generator.below(21))
            for request in 0..<requestsBeforeKill {
                let node = "n-\(kill)-\(request)"
                let events: [Event] = [
                    Fixtures.register(node, zone: "z\(request % 3)"),
                    .chunkDeclared(
                        hash: sha256(Array(node.utf8)), sizeBytes: 1_000, replicationFactor: 2, uploaderID: node, daCommitment: nil),
                ]
                let reply = try await client.post(
                    "/v1/events", body: events.map(EventJSON.encode).joined(separator: "\n"), token: coordinator.token)
                requests += 1
                if reply.status == 202 {
                    acknowledged += events
                } else {
                    refusedWhileStarting += 1
                    #expect(reply.status == 503 || reply.status == 422, "\(reply.status) \(reply.body)")
                }
            }
            try await Task.sleep(for: .milliseconds(pause))
            await coordinator.killHard()
        }

        // The last start drains the outbox; then the log is read back.
        let last = try await ServeProcess(dataDirectory: dataDirectory, arguments: arguments)
        let client = APITestClient(baseURL: last.baseURL)
        try await client.waitUntilReady()
        if last.stderr.contains("outbox: republishing after restart") { recoveries += 1 }
        let state = try await client.waitFor("/v1/state") { ($0["publish_backlog"]?.int64) == 0 && ($0["outbox_events"]?.int64) == 0 }
        let liveChecksum = try #require(state.json["checksum"]?.string)
        let appliedHeight = state.json["applied_height"]?.int64 ?? 0
        #expect(await last.terminate() == 0)

        let exported = try await CoordinatorProcess.run(["events", "export", "--da", da, "--to", "\(appliedHeight)"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let applied = try EventJSON.decodeLines(exported.stdout)
        var counts: [String: Int] = [:]  // lookup only
        for event in applied { counts[EventJSON.encode(event), default: 0] += 1 }
        let lost = acknowledged.filter { counts[EventJSON.encode($0)] == nil }
        let duplicated = acknowledged.filter { (counts[EventJSON.encode($0)] ?? 0) > 1 }
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--to", "\(appliedHeight)", "--json"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let rebuiltChecksum = try parseJSON(rebuilt.stdout)["checksum"]?.string
        let mismatches = rebuiltChecksum == liveChecksum ? 0 : 1

        print(
            "crash matrix: seed \(Self.seed), kills \(Self.kills), requests \(requests), events acknowledged \(acknowledged.count), "
                + "refused at submission \(refusedWhileStarting), restarts that recovered outbox work \(recoveries), applied events on the DA \(applied.count), "
                + "lost \(lost.count), duplicated \(duplicated.count), mismatches \(mismatches)")
        #expect(!acknowledged.isEmpty)
        #expect(lost.isEmpty, "lost: \(lost.prefix(5))")
        #expect(duplicated.isEmpty, "duplicated: \(duplicated.prefix(5))")
        #expect(mismatches == 0, "rebuild \(rebuiltChecksum ?? "none") vs live \(liveChecksum)")
    }
}
