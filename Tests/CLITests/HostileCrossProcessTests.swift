import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// The hostile-policy suite run through the executable in two separate processes: every outcome is the
/// expected class, and outcome, instructions and peak memory are identical in both processes.
@Suite struct HostileCrossProcessTests {
    static let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/hostile")

    struct Expectation {
        var outcome: String
        var phase: String?
        /// False for `-- costs: nondeterministic` (docs/policies.md, "Determinism"): outcome, message and
        /// choice must still agree across processes, instructions and peak memory may not.
        var costsDeterministic: Bool
    }

    /// `-- engine:` (what the full engine must decide) wins over `-- expect:` (the raw sandbox's view).
    static func expectation(_ path: String) async throws -> Expectation {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let text = String(decoding: data.prefix(4096), as: UTF8.self)
        var expect: String?
        var engine: String?
        var phase: String?
        var costs: String?
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            func value(_ key: String) -> String? {
                trimmed.hasPrefix("-- \(key):") ? trimmed.dropFirst(key.count + 4).trimmingCharacters(in: .whitespaces) : nil
            }
            expect = expect ?? value("expect")
            engine = engine ?? value("engine")
            phase = phase ?? value("phase")
            costs = costs ?? value("costs")
        }
        return Expectation(
            outcome: engine ?? expect ?? "missing", phase: engine == nil ? phase : nil, costsDeterministic: costs != "nondeterministic")
    }

    /// A policy whose score is `#` of tables with holes, whose answer follows the table layout: four
    /// processes in different directories, with different environments (so different stack and heap
    /// addresses) and started at different times, print one digest.
    @Test func layoutDependentDecisionsHaveOneDigestInFourProcesses() async throws {
        let policy = Self.directory.appendingPathComponent("192-length-follows-layout.lua").path
        var digests: [String] = []
        for index in 0..<4 {
            let directory = try TemporaryDirectory()
            let environment = [
                "DSDN_TEST_PADDING": String(repeating: "p", count: 1 + index * 3_000),
                "TZ": ["UTC", "Asia/Tokyo", "America/Lima", "Europe/Paris"][index],
                "LANG": ["C", "C.UTF-8", "en_US.UTF-8", "POSIX"][index],
            ]
            let result = try await CoordinatorProcess.run(
                ["policy", "digest", policy, "--nodes", "12", "--decisions", "3", "--json"], directory: directory.path(""),
                environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            digests.append(try parseJSON(result.stdout)["digest"]?.string ?? "none")
        }
        #expect(Set(digests).count == 1, "\(digests)")
        #expect(digests[0].count == 64)
    }

    @Test func hostileSuiteIsClassifiedAndIdenticalInTwoProcesses() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".lua") }.sorted()
        #expect(files.count >= 40)
        let paths = files.map { Self.directory.appendingPathComponent($0).path }
        let arguments = ["policy", "probe", "--json", "--instructions", "2000000", "--memory", "8388608"] + paths
        async let first = Task.detached { try await CoordinatorProcess.run(arguments) }.value
        async let second = Task.detached { try await CoordinatorProcess.run(arguments) }.value
        let (one, two) = try await (first, second)
        // Some probes fail by design, so the command exits non-zero; both runs must agree on everything.
        #expect(one.status == two.status)
        let reports = try #require(try parseJSON(one.stdout).array)
        let others = try #require(try parseJSON(two.stdout).array)
        #expect(reports.count == files.count)
        #expect(others.count == files.count)
        var seen = Set<String>()
        for ((report, other), path) in zip(zip(reports, others), paths) {
            let expected = try await Self.expectation(path)
            let name = (path as NSString).lastPathComponent
            var keys = ["outcome", "load", "decide", "message", "chosen"]
            if expected.costsDeterministic {
                keys += ["load_instructions", "load_peak_memory", "decide_instructions", "decide_peak_memory"]
            }
            for key in keys {
                #expect("\(report[key] ?? "-")" == "\(other[key] ?? "-")", "\(name): \(key) differs between the two processes")
            }
            let outcome = report["outcome"]?.string ?? "?"
            seen.insert(outcome)
            #expect(outcome == expected.outcome, "\(name): \(outcome), expected \(expected.outcome): \(report["message"] ?? "")")
            if let phase = expected.phase, outcome != "ok" {
                let failedAt = (report["load"]?.string) == "ok" ? "decide" : "load"
                #expect(failedAt == phase, "\(name): failed at \(failedAt), expected \(phase)")
            }
        }
        #expect(seen.isSuperset(of: ["ok", "syntax_error", "runtime_error", "instruction_budget", "memory_budget", "invalid_result"]))
    }
}
