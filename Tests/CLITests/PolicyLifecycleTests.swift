import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The policy lifecycle through the executable: the first start publishes the pack's default, a new
/// version is published and activated while `serve` runs, placements name the version active at their
/// snapshot, bad requests change nothing, and `rebuild` reproduces the registry and the checksum.
@Suite struct PolicyLifecycleTests {
    static let pack = repositoryRoot.appendingPathComponent("policies").path

    private static func client(_ arguments: [String], _ coordinator: ServeProcess) async throws -> CoordinatorProcess.Result {
        try await CoordinatorProcess.run(
            arguments + [
                "--api", coordinator.baseURL, "--token-file",
                (coordinator.dataDirectory as NSString).appendingPathComponent("test-api-token"),
            ])
    }

    /// The placements of `chunk` in the DA's history: node and provenance.
    private static func placements(of chunk: Hash256, da: String) async throws -> [(node: String, provenance: PlacementProvenance)] {
        let export = try await CoordinatorProcess.run(["events", "export", "--da", da])
        #expect(export.status == 0, "\(export.stderr)")
        return try EventJSON.decodeLines(export.stdout).compactMap { event in
            guard case let .replicaAdded(hash, node, _, _, provenance?) = event, hash == chunk else { return nil }
            return (node, provenance)
        }
    }

    @Test func publishActivateTuneAndRebuild() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        // No --policy: the pack's default, built into the executable.
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--batch-interval-ms", "50"])
        let api = APITestClient(baseURL: coordinator.baseURL)
        try await api.waitUntilReady()
        let first = try await api.waitFor("/v1/policies") { $0["placement"]?.string == "weighted-score@2" }
        #expect(first.json["placement"]?.string == "weighted-score@2")

        var events = (0..<6).map { Fixtures.register("n\($0)", zone: "z\($0 % 3)") }
        let early = Fixtures.hash(0xE1)
        events.append(Fixtures.declare(early, replicationFactor: 2))
        let posted = try await api.post("/v1/events?wait=true", body: EventJSON.encodeLines(events), token: coordinator.token)
        #expect(posted.status == 200, "\(posted.body)")
        _ = try await api.waitFor("/v1/state") { ($0["under_replicated_chunks"]?.int64) == 0 }

        // Version 3: the same file under a new version, then other weights through the DA.
        let source = try String(contentsOfFile: Self.pack + "/weighted-score.lua", encoding: .utf8)
        let v3 = directory.path("weighted-score-v3.lua")
        try source.replacingOccurrences(of: "version = 2,", with: "version = 3,").write(toFile: v3, atomically: true, encoding: .utf8)
        let published = try await Self.client(["policy", "publish", v3, "--activate", "--wait"], coordinator)
        #expect(published.status == 0, "\(published.stderr)")
        #expect(published.stdout.contains("weighted-score@3"))
        let tuned = try await Self.client(["policy", "set", "weighted-score@3", "w_latency=5", "w_cpu=2.5", "--wait"], coordinator)
        #expect(tuned.status == 0, "\(tuned.stderr)")

        // A shadow beside v3: it decides the next chunks too, and publishes nothing.
        let shadowed = try await Self.client(["policy", "publish", Self.pack + "/zone-spread.lua", "--shadow", "--wait"], coordinator)
        #expect(shadowed.status == 0, "\(shadowed.stderr)")

        let late = Fixtures.hash(0xE2)
        let declared = try await api.post(
            "/v1/events?wait=true", body: EventJSON.encodeLines([Fixtures.declare(late, replicationFactor: 2)]), token: coordinator.token)
        #expect(declared.status == 200, "\(declared.body)")
        _ = try await api.waitFor("/v1/state") { ($0["under_replicated_chunks"]?.int64) == 0 }

        let record = try await api.waitFor("/v1/policies/zone-spread") { ($0["shadow_records"]?.array?.count ?? 0) == 1 }
        let tally = try #require(record.json["shadow_records"]?.array?.first)
        #expect(tally["shadow"]?.string == "zone-spread@2" && tally["placement"]?.string == "weighted-score@3")
        #expect((tally["agreements"]?.int64 ?? 0) + (tally["disagreements"]?.int64 ?? 0) == 1, "\(record.body)")
        #expect(try await api.get("/metrics").body.contains("dsdn_shadow_decisions_total{"))
        let cleared = try await Self.client(["policy", "activate", "--clear-shadow", "--wait"], coordinator)
        #expect(cleared.status == 0, "\(cleared.stderr)")
        #expect(try await api.get("/v1/policies").json["shadow"] == nil)

        // Activating a version that does not exist is refused, and v3 stays.
        let unknown = try await Self.client(["policy", "activate", "weighted-score@9"], coordinator)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("policy weighted-score@9 is not published"), "\(unknown.stderr)")
        let registry = try await api.get("/v1/policies")
        #expect(registry.json["placement"]?.string == "weighted-score@3")
        let versions = registry.json["versions"]?.array ?? []
        let three = try #require(versions.first { $0["version"]?.int64 == 3 })
        #expect(three["parameter_sets"]?.int64 == 1)
        let digest = try #require(three["params_digest"]?.string)

        let history = try await Self.client(["policy", "history", "weighted-score"], coordinator)
        let lines = history.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(history.stdout)")
        #expect(lines.last?.contains("params set on weighted-score@3") == true)
        let shown = try await Self.client(["policy", "show", "weighted-score@3"], coordinator)
        #expect(shown.stdout == (try String(contentsOfFile: v3, encoding: .utf8)))

        let state = try await api.waitFor("/v1/state") { ($0["publish_backlog"]?.int64) == 0 && ($0["lag"]?.int64) == 0 }
        #expect(await coordinator.terminate() == 0)

        // Earlier placements name v2, later ones v3 with the tuned parameter set.
        let before = try await Self.placements(of: early, da: da)
        let after = try await Self.placements(of: late, da: da)
        #expect(before.count == 2 && after.count == 2)
        #expect(before.allSatisfy { $0.provenance.policyName == "weighted-score" && $0.provenance.policyVersion == 2 })
        #expect(after.allSatisfy { $0.provenance.policyVersion == 3 && $0.provenance.context?.parametersDigest.hex == digest })
        #expect(after.allSatisfy { ($0.provenance.context?.engine ?? "").contains("Lua 5.4") })

        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try parseJSON(rebuilt.stdout)["checksum"]?.string == state.json["checksum"]?.string)

        // The whole history re-executes as recorded.
        let audited = try await CoordinatorProcess.run(["audit", "--da", da])
        #expect(audited.status == 0, "\(audited.stdout)\(audited.stderr)")
        #expect(audited.stdout.contains("decisions   2 checked, 2 matching, 0 mismatching"), "\(audited.stdout)")

        // Two forged placements (each a first-wins no-op, so the state does not change): the early chunk
        // placed on a node its version would not choose, and a v3 placement claiming a snapshot at
        // which v2 was active.
        let chosen = Set(before.map(\.node))
        let other = try #require((0..<6).map { "n\($0)" }.first { !chosen.contains($0) })
        var stale = after[0].provenance
        stale.context?.snapshotHeight = try #require(before[0].provenance.context?.snapshotHeight)
        let forged: [Event] = [
            .replicaAdded(hash: early, nodeID: other, replicaIndex: 0, addedAtMillis: 1, provenance: before[0].provenance),
            .replicaAdded(hash: late, nodeID: after[0].node, replicaIndex: 0, addedAtMillis: 1, provenance: stale),
        ]
        let file = directory.path("forged.jsonl")
        try EventJSON.encodeLines(forged).write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try await CoordinatorProcess.run(["events", "import", file, "--da", da, "--publisher", "forger", "--batch", "1"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let caught = try await CoordinatorProcess.run(["audit", "--da", da])
        #expect(caught.status != 0)
        #expect(caught.stdout.contains("decisions   4 checked, 2 matching, 2 mismatching"), "\(caught.stdout)")
        #expect(caught.stdout.contains("other nodes than the recorded version chooses"), "\(caught.stdout)")
        #expect(caught.stdout.contains("weighted-score@3 was not the active placement policy at its snapshot (active: weighted-score@2)"))
        #expect(caught.stderr.contains("audit: 2 of 4 decisions do not match their record"))
    }

    @Test func auditOfAnEmptyHistoryAndOfARangeBeyondTheHead() async throws {
        let directory = try TemporaryDirectory()
        let empty = "file:" + directory.path("empty")
        try FileManager.default.createDirectory(atPath: directory.path("empty"), withIntermediateDirectories: true)
        let nothing = try await CoordinatorProcess.run(["audit", "--da", empty])
        #expect(nothing.status == 0, "\(nothing.stderr)")
        #expect(nothing.stdout.contains("decisions   0 checked, 0 matching, 0 mismatching"))
        let beyond = try await CoordinatorProcess.run(["audit", "--da", empty, "--from", "5"])
        #expect(beyond.status != 0)
        #expect(beyond.stderr == "Error: \(empty): future_height: from height 5 is beyond the DA head 0\n", "\(beyond.stderr)")
        let conflicting = try await CoordinatorProcess.run(["serve", "--policy", "zone-spread", "--no-policy", "--da", empty])
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.hasPrefix("Error: --no-policy publishes no policy: drop --policy zone-spread, or drop --no-policy"))
        let unknown = try await CoordinatorProcess.run([
            "policy", "shadow", "--events", "/dev/null", "--policy", "nope", "--shadow", "zone-spread",
        ])
        #expect(unknown.stderr.hasPrefix("Error: no pack policy or file named nope (the pack: balanced, bin-pack"), "\(unknown.stderr)")
    }

    @Test func generateCanStartWithAPolicyPublishedAndActivated() async throws {
        let generated = try await CoordinatorProcess.run(["generate", "--seed", "3", "--events", "50", "--policy", "zone-spread"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let events = try EventJSON.decodeLines(generated.stdout)
        #expect(events.count == 52)
        guard case let .policyPublished(release) = events.first, case .policyActivated("zone-spread", 2, .placement) = events[1] else {
            Issue.record("the history does not start with the policy: \(events.prefix(2))")
            return
        }
        #expect(release.label == "zone-spread@2")
        let directory = try TemporaryDirectory()
        let file = directory.path("h.jsonl")
        try generated.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let state = try await CoordinatorProcess.run(["state", "--json", file])
        #expect(state.status == 0, "\(state.stderr)")
    }

    @Test func publishRefusesWhatCheckRefuses() async throws {
        let directory = try TemporaryDirectory()
        let broken = directory.path("broken.lua")
        try "return { name = \"broken\", version = 1, api = 1 }\n".write(toFile: broken, atomically: true, encoding: .utf8)
        // No coordinator is needed: the file is refused before anything is sent.
        let result = try await CoordinatorProcess.run(["policy", "publish", broken, "--api", "http://127.0.0.1:9"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not published: invalid_result: \(broken): broken: missing score hook"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func thePackShipsInsideTheExecutable() async throws {
        // Run outside the repository: nothing is read from policies/.
        let directory = try TemporaryDirectory()
        let list = try await CoordinatorProcess.run(["policy", "list", "--pack"], directory: directory.url.path)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.split(separator: "\n").count == 6)
        #expect(list.stdout.contains("weighted-score  weighted-score@2"))
        let shown = try await CoordinatorProcess.run(["policy", "show", "--pack", "zone-spread"], directory: directory.url.path)
        #expect(shown.stdout == (try String(contentsOfFile: Self.pack + "/zone-spread.lua", encoding: .utf8)))
    }

    @Test func anOfflineShadowRunIsTheSameInTwoProcesses() async throws {
        let directory = try TemporaryDirectory()
        let history = directory.path("history.jsonl")
        let generated = try await CoordinatorProcess.run(["generate", "--seed", "7", "--events", "4000"])
        #expect(generated.status == 0, "\(generated.stderr)")
        try generated.stdout.write(toFile: history, atomically: true, encoding: .utf8)
        let arguments = ["policy", "shadow", "--events", history, "--policy", "weighted-score", "--shadow", "zone-spread", "--json"]
        let first = try await CoordinatorProcess.run(arguments)
        let second = try await CoordinatorProcess.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == second.stdout)
        let report = try parseJSON(first.stdout)
        let decisions = report["decisions"]?.int64 ?? 0
        #expect(decisions > 0)
        #expect((report["disagreements"]?.int64 ?? 0) > 0)
        #expect((report["agreements"]?.int64 ?? 0) + (report["disagreements"]?.int64 ?? 0) + (report["failures"]?.int64 ?? 0) == decisions)
        #expect(report["disagreeing"]?.array?.count == Int(report["disagreements"]?.int64 ?? -1))
    }

    @Test func theWalkthroughRunsToAPassingAudit() async throws {
        let script = repositoryRoot.appendingPathComponent("examples/policy-walkthrough.sh")
        let result = try await CoordinatorProcess.run(
            program: script, [], environment: ["DSDN_COORDINATOR": CoordinatorProcess.executableURL.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for step in 1...6 { #expect(result.stdout.contains("\n== \(step). "), "step \(step) missing") }
        #expect(result.stdout.contains("activated zone-spread@2 for placement"))
        #expect(result.stdout.contains("params set on weighted-score@2"))
        #expect(result.stdout.contains("decisions   6 checked, 6 matching, 0 mismatching"), "\(result.stdout)")
    }

    @Test func twoCoordinatorsSwitchAtTheSameEventAndEveryDecisionReExecutes() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let nodes = directory.path("nodes.jsonl")
        try EventJSON.encodeLines((0..<9).map { Fixtures.register("n\($0)", zone: "z\($0 % 3)") })
            .write(toFile: nodes, atomically: true, encoding: .utf8)
        let imported = try await CoordinatorProcess.run(["events", "import", nodes, "--da", da])
        #expect(imported.status == 0, "\(imported.stderr)")
        let arguments = ["--da", da, "--batch-interval-ms", "50"]
        let first = try await ServeProcess(dataDirectory: directory.path("a"), arguments: arguments + ["--publisher-id", "coord-a"])
        let second = try await ServeProcess(dataDirectory: directory.path("b"), arguments: arguments + ["--publisher-id", "coord-b"])
        let clients = [APITestClient(baseURL: first.baseURL), APITestClient(baseURL: second.baseURL)]
        for client in clients {
            try await client.waitUntilReady()
            _ = try await client.waitFor("/v1/policies") { $0["placement"]?.string == "weighted-score@2" }
        }
        let switched = try await Self.client(["policy", "publish", Self.pack + "/zone-spread.lua", "--activate", "--wait"], first)
        #expect(switched.status == 0, "\(switched.stderr)")
        let chunks = (0..<10).map { Fixtures.declare(Fixtures.hash(UInt8(0x40 + $0)), replicationFactor: 3) }
        let declared = try await clients[1].post("/v1/events?wait=true", body: EventJSON.encodeLines(chunks), token: second.token)
        #expect(declared.status == 200, "\(declared.body)")
        for client in clients {
            _ = try await client.waitFor("/v1/state") {
                ($0["under_replicated_chunks"]?.int64) == 0 && ($0["lag"]?.int64) == 0 && ($0["publish_backlog"]?.int64) == 0
            }
        }
        let head = try await clients.asyncMax { try await $0.get("/v1/state").json["applied_height"]?.int64 ?? 0 }
        var histories: [String] = []
        var checksums: [String] = []
        for client in clients {
            let state = try await client.waitFor("/v1/state") { ($0["applied_height"]?.int64 ?? 0) >= head }
            checksums.append(state.json["checksum"]?.string ?? "")
            let changes = try await client.get("/v1/policies/zone-spread").json["history"]?.array ?? []
            histories.append(
                changes.map { change in
                    ["kind", "name", "version", "role", "digest", "height"].map { key in
                        change[key].map { $0.string ?? $0.int64.map(String.init) ?? "?" } ?? "-"
                    }.joined(separator: " ")
                }.joined(separator: "\n"))
        }
        // The same registry history, with the same DA heights, and the same state in both.
        #expect(histories[0] == histories[1] && histories[0].contains("activated"))
        #expect(checksums[0] == checksums[1])
        #expect(await first.terminate() == 0)
        #expect(await second.terminate() == 0)
        // Whichever coordinator placed a chunk, its decision re-executes as recorded (twice, identically).
        let audits = [try await CoordinatorProcess.run(["audit", "--da", da]), try await CoordinatorProcess.run(["audit", "--da", da])]
        #expect(audits[0].status == 0, "\(audits[0].stdout)\(audits[0].stderr)")
        #expect(audits[0].stdout == audits[1].stdout)
        #expect(audits[0].stdout.contains(" 0 mismatching"))
    }

    @Test func watchPublishesAndActivatesAChangedFile() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", "file:" + directory.path("da"), "--batch-interval-ms", "50"])
        let api = APITestClient(baseURL: coordinator.baseURL)
        try await api.waitUntilReady()
        _ = try await api.waitFor("/v1/policies") { $0["placement"]?.string == "weighted-score@2" }
        let watched = directory.path("watched")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)

        let watch = Process()
        watch.executableURL = CoordinatorProcess.executableURL
        watch.arguments = [
            "policy", "watch", watched, "--interval-ms", "50", "--api", coordinator.baseURL, "--token-file",
            (coordinator.dataDirectory as NSString).appendingPathComponent("test-api-token"),
        ]
        let output = Pipe()
        watch.standardOutput = output
        watch.standardError = output
        let (lines, continuation) = AsyncStream<String>.makeStream()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                continuation.finish()
            } else {
                continuation.yield(String(decoding: data, as: UTF8.self))
            }
        }
        try watch.run()
        defer { if watch.isRunning { watch.terminate() } }
        var seen = ""
        var iterator = lines.makeAsyncIterator()
        // Wait for the watcher's first look at the directory before changing it.
        while !seen.contains("watching"), let chunk = await iterator.next() { seen += chunk }
        #expect(seen.contains("watching \(watched) (0 policy files)"), "\(seen)")

        try String(contentsOfFile: Self.pack + "/zone-spread.lua", encoding: .utf8)
            .write(toFile: watched + "/zone-spread.lua", atomically: true, encoding: .utf8)
        while !seen.contains("activated at height"), !seen.contains("not published"), let chunk = await iterator.next() { seen += chunk }
        #expect(seen.contains("zone-spread@2 published and activated at height"), "\(seen)")
        #expect(try await api.get("/v1/policies").json["placement"]?.string == "zone-spread@2")

        // A file that fails the checks is reported and changes nothing.
        try "return { name = \"zone-spread\", version = 3, api = 2 }\n".write(
            toFile: watched + "/zone-spread.lua", atomically: true, encoding: .utf8)
        while !seen.contains("not published"), let chunk = await iterator.next() { seen += chunk }
        #expect(seen.contains("zone-spread.lua: not published: invalid_result"), "\(seen)")
        #expect(try await api.get("/v1/policies").json["placement"]?.string == "zone-spread@2")
        watch.terminate()
        watch.waitUntilExit()
        #expect(await coordinator.terminate() == 0)
    }
}

extension Array where Element == APITestClient {
    /// The largest value `body` gives for the clients.
    func asyncMax(_ body: (APITestClient) async throws -> Int64) async throws -> Int64 {
        var best = Int64.min
        for client in self { best = Swift.max(best, try await body(client)) }
        return best
    }
}
