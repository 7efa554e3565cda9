import DSDNCore
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// `policy check`, `policy test`, `policy digest` and `place`, run as separate processes.
@Suite struct PolicyCLITests {
    static let pack = repositoryRoot.appendingPathComponent("policies").path

    @Test func theWholePackPassesPolicyTest() async throws {
        let result = try await CoordinatorProcess.run(["policy", "test", Self.pack])
        #expect(result.status == 0, "\(result.stderr)")
        let names = ["balanced", "bin-pack", "consistent-hash", "rendezvous", "weighted-score", "zone-spread"]
        for name in names {
            #expect(result.stdout.contains("ok    \(Self.pack)/\(name).lua"), "\(name): \(result.stdout)")
        }
        #expect(!result.stdout.contains("FAIL"))
    }

    @Test func checkReportsCostsPerExample() async throws {
        let result = try await CoordinatorProcess.run(["policy", "check", "--json", "\(Self.pack)/weighted-score.lua"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try parseJSON(result.stdout)
        #expect(report["ok"]?.bool == true)
        let examples = try #require(report["examples"]?.array)
        #expect(examples.count >= 3)
        for example in examples {
            #expect(example["passed"]?.bool == true)
            #expect((example["instructions"]?.int64 ?? 0) > 0)
            #expect((example["peak_memory"]?.int64 ?? 0) > 0)
        }
        #expect(examples.first { ($0["name"]?.string)?.contains("worked") == true }?["chosen"] == ["a", "b"])
    }

    @Test(arguments: [
        ("bytecode.lua", Data([0x1B]) + Data("LuaT\0\u{19}\u{93}\r\n\u{1a}\n".utf8), "binary"),
        ("syntax.lua", Data("return { name = 'x', version = 1,, }".utf8), "syntax_error"),
        ("missing-hook.lua", Data("return { name = 'x', version = 1, api = 1, examples = {} }".utf8), "missing score hook"),
        ("endless.lua", Data("while true do end".utf8), "instruction_budget"),
        ("no-examples.lua", Data("return { name = 'x', version = 1, api = 1, score = function() return 1 end }".utf8), "no examples"),
        ("huge.lua", Data(String(repeating: "-- a comment line\n", count: 120_000).utf8), "a policy may be at most 1048576 bytes (1 MiB)"),
        (
            "forged-line.lua",
            Data(
                """
                return { name = 'x', version = 1, api = 1, score = function() error('x\\nError: forged', 0) end,
                  examples = { { name = 'e', chunk = { replicas = 1 }, nodes = { { id = 'a' } }, expect = { 'a' } } } }
                """.utf8), #"x\nError: forged"#
        ),
        (
            "bad-example-id.lua",
            Data(
                """
                return { name = 'x', version = 1, api = 1, score = function() return 1 end,
                  examples = { { name = 'e', chunk = { replicas = 1 }, nodes = { { id = 'a\\nb' } }, expect = { 'a' } } } }
                """.utf8), "node id must be printable ASCII without whitespace"
        ),
        (
            "failing-example.lua",
            Data(
                """
                return { name = 'x', version = 1, api = 1, score = function() return 1 end,
                  examples = { { name = 'wrong', chunk = { replicas = 1 }, nodes = { { id = 'a' }, { id = 'b' } }, expect = { 'b' } } } }
                """.utf8), "chose [a], expected [b]"
        ),
    ])
    func checkFailsWithOneClearLine(file: String, contents: Data, expected: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path(file)
        try contents.write(to: URL(fileURLWithPath: path))
        let result = try await CoordinatorProcess.run(["policy", "check", path])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(lines.first?.hasPrefix("Error: ") == true)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }

    /// `policy test DIR` reports every file: a huge one and a failing one do not keep the good one from
    /// being checked.
    @Test func policyTestReportsEveryFileWhateverTheOthersDo() async throws {
        let directory = try TemporaryDirectory()
        try Data(String(repeating: "-- a comment line\n", count: 120_000).utf8).write(
            to: URL(fileURLWithPath: directory.path("a-huge.lua")))
        try Data("while true do end".utf8).write(to: URL(fileURLWithPath: directory.path("b-endless.lua")))
        try FileManager.default.copyItem(atPath: "\(Self.pack)/weighted-score.lua", toPath: directory.path("c-good.lua"))
        let result = try await CoordinatorProcess.run(["policy", "test", directory.path("")])
        #expect(result.status != 0)
        #expect(result.stdout.contains("FAIL  \(directory.path("a-huge.lua"))"), "\(result.stdout)")
        #expect(result.stdout.contains("FAIL  \(directory.path("b-endless.lua"))"), "\(result.stdout)")
        #expect(result.stdout.contains("ok    \(directory.path("c-good.lua"))"), "\(result.stdout)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// 1,000 decisions over a generated 1,000-node cluster, for every policy in the pack, computed in
    /// two separate processes, give byte-identical decision digests.
    @Test func decisionDigestsAreIdenticalInTwoProcesses() async throws {
        let policies = try FileManager.default.contentsOfDirectory(atPath: Self.pack).filter { $0.hasSuffix(".lua") }.sorted()
        #expect(policies.count == 6)
        for name in policies {
            let arguments = ["policy", "digest", "\(Self.pack)/\(name)", "--nodes", "1000", "--decisions", "1000", "--json"]
            // The two processes run concurrently, as two coordinators would.
            async let first = Task.detached { try await CoordinatorProcess.run(arguments) }.value
            async let second = Task.detached { try await CoordinatorProcess.run(arguments) }.value
            let (one, two) = try await (first, second)
            #expect(one.status == 0, "\(name): \(one.stderr)")
            #expect(two.status == 0, "\(name): \(two.stderr)")
            let a = try parseJSON(one.stdout)
            let b = try parseJSON(two.stdout)
            #expect((a["digest"]?.string)?.count == 64)
            #expect(a["digest"]?.string == b["digest"]?.string, "\(name)")
            #expect(a["replicas_chosen"]?.int64 == 3_000, "\(name)")
        }
    }

    /// API level 2's hostile policies (Tests/Fixtures/warm) make 300 decisions each in one warm state,
    /// in two processes at once: the same digest, the same instructions in all, the same peak memory.
    @Test(arguments: ["counters.lua", "strings-and-tables.lua", "random-select.lua"])
    func warmDecisionsAgreeWithTheirCostsInTwoProcesses(fixture: String) async throws {
        let file = repositoryRoot.appendingPathComponent("Tests/Fixtures/warm/\(fixture)").path
        let arguments = ["policy", "digest", file, "--nodes", "300", "--decisions", "300", "--json"]
        async let first = Task.detached { try await CoordinatorProcess.run(arguments) }.value
        async let second = Task.detached { try await CoordinatorProcess.run(arguments) }.value
        let (one, two) = try await (first, second)
        #expect(one.status == 0, "\(fixture): \(one.stderr)")
        #expect(two.status == 0, "\(fixture): \(two.stderr)")
        let a = try parseJSON(one.stdout)
        let b = try parseJSON(two.stdout)
        #expect(a["digest"]?.string?.count == 64)
        #expect(a["digest"]?.string == b["digest"]?.string)
        #expect((a["instructions"]?.int64 ?? 0) > 0)
        #expect(a["instructions"]?.int64 == b["instructions"]?.int64)
        #expect(a["peak_memory"]?.int64 == b["peak_memory"]?.int64)
        #expect((a["replicas_chosen"]?.int64 ?? 0) > 0)
    }

    @Test func placeExplainsAndRefusesBadInput() async throws {
        let events = repositoryRoot.appendingPathComponent("examples/small-cluster.jsonl").path
        let undeclared = String(repeating: "ab", count: 32)
        let result = try await CoordinatorProcess.run([
            "place", "--policy", "\(Self.pack)/zone-spread.lua", "--events", events, "--chunk", undeclared,
            "--size", "1048576", "--replicas", "3", "--explain",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("chosen    "))
        #expect(result.stdout.contains("status down"))
        #expect(result.stdout.contains("status draining"))
        // The chosen nodes are in three distinct zones (one per zone first).
        let json = try await CoordinatorProcess.run([
            "place", "--policy", "\(Self.pack)/zone-spread.lua", "--events", events, "--chunk", undeclared,
            "--size", "1048576", "--replicas", "3", "--json",
        ])
        let object = try parseJSON(json.stdout)
        let chosen = try #require(object["chosen"]?.array).compactMap(\.string)
        #expect(chosen.count == 3)
        #expect(Set(chosen.map { $0.prefix(3) }).count == 3)

        let missing = try await CoordinatorProcess.run([
            "place", "--policy", "\(Self.pack)/zone-spread.lua", "--events", events, "--chunk", undeclared,
        ])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("is not declared"))
        let badParam = try await CoordinatorProcess.run([
            "place", "--policy", "\(Self.pack)/zone-spread.lua", "--events", events, "--chunk", undeclared, "--size", "1", "--replicas",
            "1",
            "--param", "nope=1",
        ])
        #expect(badParam.status != 0)
        #expect(badParam.stderr.contains("unknown parameter nope"))
    }
}
