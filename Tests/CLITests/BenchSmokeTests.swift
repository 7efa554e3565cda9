import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// `dsdn-bench --smoke --json` runs every scenario at a small size and prints the documented JSON
/// (docs/performance.md §2). Only the document's shape and the counts are checked, never a timing.
@Suite struct BenchSmokeTests {
    @Test func everyScenarioRunsAndReportsItsFigures() async throws {
        let policy = repositoryRoot.appendingPathComponent("policies/weighted-score.lua").path
        let result = try await CoordinatorProcess.run(
            ["--smoke", "--json", "--policy", policy], directory: repositoryRoot.path, executable: "dsdn-bench")
        #expect(result.status == 0, "\(result.stderr)")
        let document = try JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8))
        #expect(document["schema"] == .uint(1) || document["schema"] == .int(1))
        let scenarios = try #require(document["scenarios"])
        for scenario in [
            "memory", "replay", "publish", "rebuild", "sandbox", "jsonl", "placement", "audit", "repair", "health", "experiment",
        ] {
            #expect(scenarios[scenario] != nil, "no figures for \(scenario)")
        }
        // Every lost replica of the storms was decided, at both failures, by both policies.
        // Every decision of the audit's generated history re-executes as recorded.
        #expect((scenarios["audit"]?["decisions"]?.double ?? 0) > 0)
        for failure in ["node", "zone"] {
            for name in ["weighted-score", "zone-spread"] {
                let figures = try #require(scenarios["repair"]?[failure]?[name])
                #expect(figures["replicas_lost"] == figures["replicas_decided"])
                #expect((figures["replicas_lost"]?.double ?? 0) > 0)
            }
        }
        for nodes in ["100", "1000"] {
            for name in ["weighted-score", "zone-spread", "rendezvous"] {
                #expect((scenarios["placement"]?[nodes]?[name]?["decisions_per_second"]?.double ?? 0) > 0, "\(nodes) \(name)")
            }
        }
        // The experiment ran its two policies and the random reference over the small preset.
        #expect((scenarios["experiment"]?["events"]?.double ?? 0) >= 5_000)
        for arm in ["random", "weighted-score@2", "zone-spread@2"] {
            #expect((scenarios["experiment"]?["arms"]?[arm]?["decisions"]?.double ?? 0) > 0, "\(arm)")
        }
        // The human-readable lines went to standard error.
        #expect(result.stderr.contains("repair      5000 nodes in 10 zones"))
    }
}
