import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The coordinator's commands against a Celestia-compatible node running as a separate process:
/// `events import`, `rebuild`, `events export`, `serve` (with the API, placement and `verify`).
@Suite(.serialized) struct CelestiaEndToEndTests {
    func json(_ text: String) -> JSONValue {
        (try? parseJSON(text)) ?? .null
    }

    @Test func importRebuildAndExportAgainstTheTestNode() async throws {
        let directory = try TemporaryDirectory()
        let node = try await CelestiaServerProcess(directory: directory)
        let da = ["--da", node.address(namespace: "e2e-import"), "--da-token-file", node.tokenFile]
        let example = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path

        let imported = try await CoordinatorProcess.run(["events", "import", example, "--batch", "10"] + da)
        #expect(imported.status == 0, "\(imported.stderr)")
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--json"] + da)
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(json(rebuilt.stdout)["checksum"]?.string == GoldenVectors.smallClusterChecksum)

        let exported = directory.path("exported.jsonl")
        let export = try await CoordinatorProcess.run(["events", "export", "-o", exported] + da)
        #expect(export.status == 0, "\(export.stderr)")
        let state = try await CoordinatorProcess.run(["state", "--json", exported])
        #expect(json(state.stdout)["checksum"]?.string == GoldenVectors.smallClusterChecksum)

        // A bad token is one clear line, not a decoding error.
        let badToken = directory.path("bad-token")
        try Data("wrong\n".utf8).write(to: URL(fileURLWithPath: badToken))
        let refused = try await CoordinatorProcess.run([
            "rebuild", "--da", node.address(namespace: "e2e-import"), "--da-token-file", badToken,
        ])
        #expect(refused.status != 0)
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("401"), "\(refused.stderr)")
        #expect(await node.terminate() == 0)
    }

    @Test func serveFollowsPublishesAndPlacesOnTheTestNode() async throws {
        let directory = try TemporaryDirectory()
        let node = try await CelestiaServerProcess(directory: directory)
        let address = node.address(namespace: "e2e-serve")
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"),
            arguments: [
                "--da", address, "--da-token-file", node.tokenFile, "--policy", "policies/zone-spread.lua", "--batch-interval-ms", "50",
            ])
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let chunk = Fixtures.hash(0x5C)
        let events = [
            Fixtures.register("n1", zone: "za"), Fixtures.register("n2", zone: "zb"), Fixtures.register("n3", zone: "zc"),
            Fixtures.declare(chunk, replicationFactor: 3),
        ]
        let posted = try await client.post("/v1/events?wait=true", body: EventJSON.encodeLines(events), token: coordinator.token)
        #expect(posted.status == 200, "\(posted.body)")
        let placed = try await client.waitFor("/v1/chunks/\(chunk)") { ($0["live_replicas"]?.int64) == 3 }
        #expect(placed.json["live_replicas"]?.int64 == 3)
        let state = try await client.waitFor("/v1/state") { ($0["publish_backlog"]?.int64) == 0 && ($0["lag"]?.int64) == 0 }

        let verified = try await CoordinatorProcess.run([
            "verify", "--da", address, "--da-token-file", node.tokenFile, "--api", coordinator.baseURL, "--token-file",
            directory.path("coordinator/test-api-token"),
        ])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(await coordinator.terminate() == 0)

        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--json", "--da", address, "--da-token-file", node.tokenFile])
        #expect(json(rebuilt.stdout)["checksum"]?.string == state.json["checksum"]?.string)
        #expect(await node.terminate() == 0)
    }

    /// Faults through the executables: submits that time out but land, and sequence mismatches, still
    /// converge to the clean checksum with one copy of each blob; pruned history is an explicit error.
    /// (Random failures of half of all calls are tested in process, where backoff costs no wall-clock
    /// time: `CelestiaFaultTests.halfOfAllCallsFailingConvergesToTheCleanChecksum`.)
    @Test func faultsConvergeAndPrunedHistoryIsExplicit() async throws {
        let directory = try TemporaryDirectory()
        let example = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path
        let flaky = try await CelestiaServerProcess(
            directory: directory, blockTimeMillis: 100,
            arguments: ["--submit-timeouts", "2", "--submit-timeout-mode", "error", "--sequence-mismatches", "1"])
        let da = ["--da", flaky.address(namespace: "e2e-faults"), "--da-token-file", flaky.tokenFile]
        let imported = try await CoordinatorProcess.run(["events", "import", example, "--batch", "16"] + da)
        #expect(imported.status == 0, "\(imported.stderr)")
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--json"] + da)
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let summary = json(rebuilt.stdout)
        #expect(summary["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        // 48 events in blobs of 16: three blobs applied, none twice.
        #expect(summary["blobs_applied"]?.int64 == 3)
        #expect(summary["blobs_duplicate"]?.int64 == 0)
        #expect(summary["events_applied"]?.int64 == 48)
        #expect(await flaky.terminate() == 0)

        let pruned = try await CelestiaServerProcess(directory: directory, blockTimeMillis: 20, arguments: ["--tail", "3"])
        let prunedDA = ["--da", pruned.address(namespace: "e2e-pruned"), "--da-token-file", pruned.tokenFile]
        var result = try await CoordinatorProcess.run(["rebuild"] + prunedDA)
        // The chain needs a few blocks before height 1 is below its tail (bounded: 200 tries).
        var tries = 0
        while !result.stderr.contains("pruned"), tries < 200 {
            try await Task.sleep(for: .milliseconds(50))
            result = try await CoordinatorProcess.run(["rebuild"] + prunedDA)
            tries += 1
        }
        #expect(result.status != 0)
        #expect(result.stderr.contains("pruned"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(await pruned.terminate() == 0)
    }

    /// An unfunded key and an execution-code rejection end `events import` with one definite line each.
    @Test func definiteSubmitRefusalsEndInOneLine() async throws {
        let example = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path
        for (arguments, expected) in [
            (["--unfunded-key"], "fund that address"), (["--execution-rejections", "5", "--execution-code", "13"], "execution code 13"),
        ] {
            let directory = try TemporaryDirectory()
            let node = try await CelestiaServerProcess(directory: directory, arguments: arguments)
            let da = ["--da", node.address(namespace: "refusals"), "--da-token-file", node.tokenFile]
            let imported = try await CoordinatorProcess.run(["events", "import", example] + da)
            #expect(imported.status != 0, "\(arguments)")
            let lines = imported.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.count == 1, "\(arguments): \(imported.stderr)")
            #expect(imported.stderr.contains(expected), "\(arguments): \(imported.stderr)")
        }
    }
}
