import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNSimulation
import DSDNTestSupport
import Foundation
import Testing

/// The `dsdn-coordinator` executable, run as separate processes.
@Suite struct CLITests {
    @Test func printsItsVersion() async throws {
        let result = try await CoordinatorProcess.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    private func stateJSON(_ arguments: [String], input: Data? = nil) async throws -> JSONValue {
        let result = try await CoordinatorProcess.run(["state", "--json"] + arguments, input: input)
        #expect(result.status == 0, "\(result.stderr)")
        return try parseJSON(result.stdout)
    }

    /// The pinned checksum of the fixed 12,000-event history, computed in two separate processes from a
    /// history that a third process generated.
    @Test func goldenChecksumInTwoSeparateProcesses() async throws {
        let directory = try TemporaryDirectory()
        let parameters = GoldenVectors.historyParameters
        let generated = try await CoordinatorProcess.run([
            "generate", "--seed", "\(parameters.seed)", "--events", "\(parameters.eventCount)",
            "--nodes", "\(parameters.nodeCount)", "--zones", "\(parameters.zoneCount)",
        ])
        #expect(generated.status == 0)
        let file = directory.path("history.jsonl")
        try generated.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        // The generated file is exactly what the in-process generator produces.
        #expect(generated.stdout == EventJSON.encodeLines(SyntheticHistory.events(parameters)))

        let first = try await stateJSON([file])
        let second = try await stateJSON(["-"], input: Data(generated.stdout.utf8))
        #expect(first["checksum"]?.string == GoldenVectors.historyChecksum)
        #expect(second["checksum"]?.string == GoldenVectors.historyChecksum)
        #expect(first["events"]?.int64 == 12_000)
        #expect(first["nodes"]?.int64 == second["nodes"]?.int64)
    }

    @Test func exampleHistoryIsPinned() async throws {
        let path = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path
        let summary = try await stateJSON([path])
        #expect(summary["checksum"]?.string == GoldenVectors.smallClusterChecksum)
        #expect(summary["nodes"]?.int64 == 6)
        #expect(summary["zones"]?.int64 == 3)
        #expect(summary["chunks"]?.int64 == 7)
        #expect(summary["under_replicated"]?.int64 == 3)
        #expect(summary["lost_replicas"]?.int64 == 3)

        let human = try await CoordinatorProcess.run(["state", path])
        #expect(human.status == 0)
        #expect(human.stdout.contains("checksum  \(GoldenVectors.smallClusterChecksum)"))
        #expect(human.stdout.contains("nodes     6 in 3 zones"))
    }

    @Test(arguments: [
        (["state", "/nonexistent/history.jsonl"], "cannot read"),
        (["state", "-"], "line 2: invalid JSON at column 2: expected a string key"),
        (["generate", "--nodes", "0"], "--nodes must be from 1 to"),
        (["state", "--bogus", "x"], "Unknown option"),
        (["frobnicate"], "Unexpected argument"),
    ])
    func badInputGivesAClearErrorAndNonZeroExit(arguments: [String], expected: String) async throws {
        let input = Data("{\"type\":\"NodeUnregistered\",\"node_id\":\"n1\"}\n{not json\n".utf8)
        let result = try await CoordinatorProcess.run(arguments, input: input)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("Error: "), "\(result.stderr)")
        #expect(firstLine.contains(expected), "\(result.stderr)")
    }

    @Test func aRefusedEventNamesItsLineAndPrintsNoState() async throws {
        let lines = """
            # a comment
            {"type":"NodeRegistered","node_id":"n1","zone":"z","addr":"h:1","capacity":10}

            {"type":"ReplicaAdded","chunk_hash":"\(String(repeating: "ab", count: 32))","node_id":"n1","replica_index":0,"added_at":1}
            """
        let result = try await CoordinatorProcess.run(["state", "-"], input: Data(lines.utf8))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("line 4: ReplicaAdded refused"))
        #expect(result.stderr.contains("does not exist"))
    }

    /// A byte-order mark is skipped at the very start of a file only: a second one is refused.
    @Test func aSecondByteOrderMarkAtTheStartIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("bom.jsonl")
        let line = #"{"addr":"10.0.0.1:7000","capacity":1099511627776,"node_id":"node-1","type":"NodeRegistered","zone":"eu-west"}"#
        try (Data([0xEF, 0xBB, 0xBF]) + Data(line.utf8)).write(to: URL(fileURLWithPath: path))
        #expect(try await CoordinatorProcess.run(["state", path]).status == 0)
        try (Data([0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF]) + Data(line.utf8)).write(to: URL(fileURLWithPath: path))
        let twice = try await CoordinatorProcess.run(["state", path])
        #expect(twice.status != 0)
        #expect(twice.stderr.contains("line 1: invalid JSON at column 1: a byte-order mark is not JSON"), "\(twice.stderr)")
    }
}
