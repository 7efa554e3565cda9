import DSDNCore
import DSDNTestSupport
import Foundation
import Testing

/// `events import` and `rebuild` on the embedded file log, through the executable.
@Suite struct DACommandsTests {
    static let example = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path

    @Test func importThenRebuildReachesTheSameChecksumAsTheHistory() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("log")
        let imported = try await CoordinatorProcess.run(["events", "import", Self.example, "--da", da, "--batch", "7"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("checksum  \(GoldenVectors.smallClusterChecksum)"))

        // A separate process rebuilds from the log and must agree, also when told what to expect.
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json", "--expect", GoldenVectors.smallClusterChecksum])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let report = try parseJSON(rebuilt.stdout)
        #expect(report["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        #expect(report["blobs_applied"]?.int64 == 7)  // 48 events in blobs of 7
        #expect(report["blobs_rejected"]?.int64 == 0)

        // A prefix of the history is a different state.
        let prefix = try await CoordinatorProcess.run(["rebuild", "--da", da, "--to", "2", "--json"])
        let partial = try parseJSON(prefix.stdout)
        #expect(partial["heights"]?.int64 == 2)
        #expect(partial["checksum"]?.string != GoldenVectors.smallClusterChecksum)
    }

    @Test func aRefusedImportPublishesNothing() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("log")
        #expect(try await CoordinatorProcess.run(["events", "import", Self.example, "--da", da]).status == 0)
        // The same history again: its replica on the node that is now down is refused, by line.
        let again = try await CoordinatorProcess.run(["events", "import", Self.example, "--da", da])
        #expect(again.status == 1)
        #expect(again.stderr.contains("line 22: ReplicaAdded refused"))
        #expect(again.stderr.contains("nothing was published"))
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        let report = try parseJSON(rebuilt.stdout)
        #expect(report["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        #expect(report["heights"]?.int64 == 1)
    }

    /// An event that applies but cannot be encoded (a 129-byte policy name) is found before anything is
    /// published, by line; a `null` line is one clear line too. (The import used to publish the batches
    /// before the bad event, and a `null` line printed a raw DecodingError.)
    @Test func anImportThatCannotBeEncodedPublishesNothing() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("log")
        let hash = String(repeating: "1", count: 64)
        let lines = [
            #"{"type":"NodeRegistered","node_id":"n1","zone":"z","addr":"h:1","capacity":10}"#,
            #"{"type":"ChunkDeclared","chunk_hash":"\#(hash)","size_bytes":1,"replication_factor":1,"uploader_id":"u"}"#,
            #"{"type":"ReplicaAdded","chunk_hash":"\#(hash)","node_id":"n1","replica_index":0,"added_at":1,"provenance":{"policy":"\#(String(repeating: "p", count: 129))","version":1,"source_hash":"\#(hash)","input_digest":"\#(hash)"}}"#,
        ]
        let input = Data((lines.joined(separator: "\n") + "\n").utf8)
        let refused = try await CoordinatorProcess.run(["events", "import", "-", "--da", da, "--batch", "1"], input: input)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("line 3: ReplicaAdded cannot be encoded"), "\(refused.stderr)")
        #expect(refused.stderr.contains("nothing was published"))
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        #expect(try parseJSON(rebuilt.stdout)["nodes"]?.int64 == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")

        let null = try await CoordinatorProcess.run(["events", "import", "-", "--da", da], input: Data("null\n".utf8))
        #expect(null.status == 1)
        #expect(null.stderr == "Error: -: line 1: invalid JSON at column 1: expected a JSON object\n", "\(null.stderr)")
    }

    @Test func sequencesContinueAcrossImports() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("log")
        let first = "{\"type\":\"NodeRegistered\",\"node_id\":\"n1\",\"zone\":\"z\",\"addr\":\"h:1\",\"capacity\":10}\n"
        let second = "{\"type\":\"NodeRegistered\",\"node_id\":\"n2\",\"zone\":\"z\",\"addr\":\"h:2\",\"capacity\":10}\n"
        #expect(try await CoordinatorProcess.run(["events", "import", "-", "--da", da], input: Data(first.utf8)).status == 0)
        #expect(try await CoordinatorProcess.run(["events", "import", "-", "--da", da], input: Data(second.utf8)).status == 0)
        // Had the second import reused sequence 1, its blob would be dropped as a duplicate.
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        let report = try parseJSON(rebuilt.stdout)
        #expect(report["nodes"]?.int64 == 2)
        #expect(report["blobs_duplicate"]?.int64 == 0)
    }

    @Test(arguments: [
        (["rebuild", "--da", "memory:"], "keeps nothing between processes"),
        (["rebuild", "--da", "celestia://host:26658?token=abc"], "must not carry the auth token"),
        (["rebuild", "--da", "ftp://x"], "must be file:PATH"),
        (["rebuild", "--da", "file:/nonexistent/dsdn-log"], "does not exist"),
        (["rebuild", "--from", "5", "--to", "2", "--da", "file:/tmp"], "is after --to"),
        (["rebuild", "--expect", "abc", "--da", "file:/tmp"], "--expect must be 64 hex"),
    ])
    func badDAArgumentsGiveOneLine(arguments: [String], expected: String) async throws {
        let result = try await CoordinatorProcess.run(arguments)
        #expect(result.status != 0)
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("Error: "), "\(result.stderr)")
        #expect(firstLine.contains(expected), "\(result.stderr)")
    }
}
