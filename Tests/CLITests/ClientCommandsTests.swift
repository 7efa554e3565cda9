import DSDNAPI
import DSDNCore
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The client-side commands (`node`, `chunk`, `events publish`, `events export`, `state show`, `verify`)
/// through the real executable against a real `dsdn-coordinator serve` on a free port.
@Suite struct ClientCommandsTests {
    static let example = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path

    /// A coordinator with its own DA log in `directory`, flushing partial batches quickly.
    private static func serve(in directory: TemporaryDirectory) async throws -> ServeProcess {
        try await ServeProcess(
            dataDirectory: directory.path("coord"),
            arguments: ["--da", "file:" + directory.path("da"), "--batch-interval-ms", "50", "--no-policy"])
    }

    /// Runs the CLI with `--api` and `--token-file` of `coordinator` appended.
    private static func client(_ arguments: [String], _ coordinator: ServeProcess, tokenFile: String) async throws
        -> CoordinatorProcess.Result
    {
        try await CoordinatorProcess.run(arguments + ["--api", coordinator.baseURL, "--token-file", tokenFile])
    }

    private static func json(_ result: CoordinatorProcess.Result) async throws -> JSONValue {
        #expect(result.status == 0, "\(result.stderr)")
        return try parseJSON(result.stdout)
    }

    /// `state show --json`, read as the API's `StateResponse` (the command prints the API's answer).
    private static func stateShow(_ coordinator: ServeProcess) async throws -> StateResponse {
        let result = try await CoordinatorProcess.run(["state", "show", "--json", "--api", coordinator.baseURL])
        #expect(result.status == 0, "\(result.stderr)")
        return try APIJSON.decode(StateResponse.self, from: result.stdout)
    }

    private static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map(String.init) ?? ""
    }

    @Test func nodeAndChunkCommandsAreVisibleInStateShow() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await Self.serve(in: directory)
        let token = directory.path("coord/test-api-token")
        let hash = String(repeating: "ab", count: 32)

        let empty = try await Self.stateShow(coordinator)
        #expect(empty.nodes == 0)
        #expect(empty.phase == "ready")

        let register = try await Self.client(
            ["node", "register", "n1", "--zone", "eu-west", "--addr", "10.0.0.1:7000", "--capacity", "8TiB", "--wait"], coordinator,
            tokenFile: token)
        #expect(register.status == 0, "\(register.stderr)")
        #expect(register.stdout.contains("included at height"))
        let second = try await Self.json(
            try await Self.client(
                ["node", "register", "n2", "--zone", "eu-west", "--addr", "10.0.0.2:7000", "--capacity", "1000", "--wait", "--json"],
                coordinator, tokenFile: token))
        #expect(second["accepted"]?.int64 == 1)
        #expect((second["height"]?.int64 ?? 0) >= 1)
        let stats = try await Self.client(
            [
                "node", "stats", "n1", "--cpu-free-milli", "800", "--ram-free-mb", "16000", "--gpu-free-milli", "0",
                "--latency-us", "5000", "--io-pressure-milli", "100", "--used-bytes", "123456789", "--reported-at", "1767225600123",
                "--wait",
            ], coordinator, tokenFile: token)
        #expect(stats.status == 0, "\(stats.stderr)")
        let declare = try await Self.client(
            ["chunk", "declare", hash, "--size", "4096", "--replication-factor", "2", "--uploader", "alice", "--wait"], coordinator,
            tokenFile: token)
        #expect(declare.status == 0, "\(declare.stderr)")

        let populated = try await Self.stateShow(coordinator)
        #expect(populated.nodes == 2)
        #expect(populated.zones == 1)
        #expect(populated.chunks == 1)
        #expect(populated.underReplicatedChunks == 1)
        #expect(populated.eventsApplied == 4)
        let node = try await APITestClient(baseURL: coordinator.baseURL).get("/v1/nodes/n1").json
        #expect(node["capacity_bytes"]?.int64 == 8 << 40)
        let reported = try #require(node["stats"])
        #expect(reported["cpu_free_milli"]?.int64 == 800)
        #expect(reported["reported_at"]?.int64 == 1_767_225_600_123)

        let human = try await CoordinatorProcess.run(["state", "show", "--api", coordinator.baseURL])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("nodes        2 in 1 zones"))
        #expect(human.stdout.contains("checksum     \(populated.checksum)"))

        #expect(try await Self.client(["chunk", "remove", hash, "--wait"], coordinator, tokenFile: token).status == 0)
        #expect(try await Self.client(["node", "unregister", "n2", "--wait"], coordinator, tokenFile: token).status == 0)
        let after = try await Self.stateShow(coordinator)
        #expect(after.nodes == 1)
        #expect(after.chunks == 0)

        // A wrong token: exit non-zero, one line naming the 401, nothing published.
        let wrongToken = directory.path("wrong-token")
        try "not-the-token\n".write(toFile: wrongToken, atomically: true, encoding: .utf8)
        let refused = try await Self.client(
            ["node", "register", "n3", "--zone", "z", "--addr", "h:1", "--capacity", "1"], coordinator, tokenFile: wrongToken)
        #expect(refused.status != 0)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(Self.firstLine(refused.stderr).contains("API error 401 unauthorized"), "\(refused.stderr)")

        // A refused event in a file: the error names the file's line (comments and blank lines count).
        let bad = directory.path("bad.jsonl")
        try """
        # registers a node, then places a replica of a chunk nobody declared
        {"type":"NodeRegistered","node_id":"n9","zone":"z","addr":"h:9","capacity":10}

        {"type":"ReplicaAdded","chunk_hash":"\(String(repeating: "cd", count: 32))","node_id":"n9","replica_index":0,"added_at":1}

        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let invalid = try await Self.client(["events", "publish", bad], coordinator, tokenFile: token)
        #expect(invalid.status != 0)
        let line = Self.firstLine(invalid.stderr)
        #expect(line.contains("line 4: ReplicaAdded refused"), "\(invalid.stderr)")
        #expect(line.contains("422"), "\(invalid.stderr)")
        #expect(line.contains("nothing was accepted"), "\(invalid.stderr)")
        #expect(try await Self.stateShow(coordinator).nodes == 1)
    }

    @Test func publishThenVerifyAndExportRoundTrip() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await Self.serve(in: directory)
        let token = directory.path("coord/test-api-token")
        let da = "file:" + directory.path("da")

        let published = try await Self.client(
            ["events", "publish", Self.example, "--wait", "--batch", "20"], coordinator, tokenFile: token)
        #expect(published.status == 0, "\(published.stderr)")
        #expect(published.stdout.contains("published  48 events"))
        #expect(published.stdout.contains("in 3 requests"))
        #expect(published.stdout.contains("included   at heights"))
        let state = try await Self.stateShow(coordinator)
        #expect(state.checksum == GoldenVectors.smallClusterChecksum)
        let height = state.appliedHeight

        let verified = try await CoordinatorProcess.run(["verify", "--da", da, "--api", coordinator.baseURL])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("coordinator  \(GoldenVectors.smallClusterChecksum)"))
        #expect(verified.stdout.contains("rebuilt      \(GoldenVectors.smallClusterChecksum)"))
        #expect(verified.stdout.contains("equal"))
        let report = try await Self.json(try await CoordinatorProcess.run(["verify", "--da", da, "--api", coordinator.baseURL, "--json"]))
        #expect(report["equal"]?.bool == true)
        #expect(report["applied_height"]?.uint64 == height)

        // Round trip: export the log, derive the file's state; it equals the rebuild of the log.
        let exported = directory.path("exported.jsonl")
        let export = try await CoordinatorProcess.run(["events", "export", "--da", da, "-o", exported])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.isEmpty)
        let rebuilt = try await Self.json(try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"]))
        let blobs = try #require(rebuilt["blobs_applied"]?.int64)
        #expect(export.stderr.contains("exported 48 events of \(blobs) applied blobs"), "\(export.stderr)")
        #expect(export.stderr.contains("skipped 0 rejected and 0 duplicate blobs"), "\(export.stderr)")
        let derived = try await Self.json(try await CoordinatorProcess.run(["state", "--json", exported]))
        #expect(rebuilt["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        #expect(derived["checksum"]?.string == rebuilt["checksum"]?.string)
        #expect(derived["events"]?.int64 == 48)
        // To standard output, the same bytes; a suffix of heights is a suffix of the lines.
        let piped = try await CoordinatorProcess.run(["events", "export", "--da", da])
        #expect(piped.stdout == (try String(contentsOfFile: exported, encoding: .utf8)))
        let suffix = try await CoordinatorProcess.run(["events", "export", "--da", da, "--from", "\(height)"])
        #expect(suffix.status == 0, "\(suffix.stderr)")
        #expect(!suffix.stdout.isEmpty && piped.stdout.hasSuffix(suffix.stdout))

        // A different history on the same namespace does not verify: one line naming the height.
        let other = "file:" + directory.path("other-da")
        #expect(try await CoordinatorProcess.run(["events", "import", Self.example, "--da", other, "--batch", "1"]).status == 0)
        let mismatch = try await CoordinatorProcess.run(["verify", "--da", other, "--api", coordinator.baseURL])
        #expect(mismatch.status == 1)
        #expect(
            Self.firstLine(mismatch.stderr).contains(
                "checksum mismatch at height \(height): coordinator \(GoldenVectors.smallClusterChecksum), rebuilt "), "\(mismatch.stderr)")
    }

    @Test func anUnreachableCoordinatorIsOneLine() async throws {
        let directory = try TemporaryDirectory()
        let token = directory.path("token")
        try "some-token\n".write(toFile: token, atomically: true, encoding: .utf8)
        // Port 1 on the loopback: nothing listens there, the connection is refused at once.
        for arguments in [["state", "show"], ["node", "unregister", "n1", "--token-file", token]] {
            let result = try await CoordinatorProcess.run(arguments + ["--api", "http://127.0.0.1:1"])
            #expect(result.status != 0)
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            let line = Self.firstLine(result.stderr)
            #expect(line.contains("cannot reach the coordinator at http://127.0.0.1:1"), "\(result.stderr)")
            #expect(line.contains("is `dsdn-coordinator serve` running?"), "\(result.stderr)")
        }
    }

    @Test(arguments: [
        (["node", "register", "n 1", "--zone", "z", "--addr", "h:1", "--capacity", "1"], "node id must be printable ASCII"),
        (["node", "register", "n1", "--zone", "z", "--addr", "nohost", "--capacity", "1"], "--addr"),
        (["node", "register", "n1", "--zone", "z", "--addr", "h:1", "--capacity", "lots"], "--capacity must be a number of bytes"),
        (["chunk", "declare", "abc", "--size", "1", "--replication-factor", "1", "--uploader", "u"], "must be 64 hex characters"),
        (
            ["chunk", "declare", String(repeating: "ab", count: 32), "--size", "1", "--replication-factor", "33", "--uploader", "u"],
            "--replication-factor must be from 1 to 32"
        ),
        (["events", "publish", "x.jsonl", "--batch", "1001"], "--batch must be from 1 to 1000"),
        (["events", "export", "--from", "5", "--to", "2"], "is after --to"),
        (["state", "show", "--api", "ftp://host"], "--api must be an http:// or https:// URL"),
    ])
    func badArgumentsGiveOneLine(arguments: [String], expected: String) async throws {
        let result = try await CoordinatorProcess.run(arguments)
        #expect(result.status != 0)
        #expect(Self.firstLine(result.stderr).hasPrefix("Error: "), "\(result.stderr)")
        #expect(Self.firstLine(result.stderr).contains(expected), "\(result.stderr)")
    }

    @Test(arguments: [
        ["node", "register"], ["node", "unregister"], ["node", "stats"], ["chunk", "declare"], ["chunk", "remove"],
        ["events", "publish"], ["events", "export"], ["state", "show"], ["state", "file"], ["verify"], ["rebuild"],
    ])
    func helpShowsAnExample(command: [String]) async throws {
        let result = try await CoordinatorProcess.run(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(result.stdout)")
        #expect(result.stdout.contains("dsdn-coordinator \(command[0])"), "\(result.stdout)")
    }
}
