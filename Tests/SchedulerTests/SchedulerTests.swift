import DSDNCore
import DSDNScheduler
import DSDNTestSupport
import LuaSandbox
import Testing

/// The scheduler on real derived state: inputs, ranking, validation, repair, determinism.
@Suite struct SchedulerTests {
    /// The prototype's formula, inline so this suite does not depend on the policy pack.
    static let weighted = """
        return {
          name = "inline-weighted", version = 1, api = 1,
          params = { w_cpu = 1.0, w_ram = 0.001, w_gpu = 2.0, w_latency = 50.0, w_io = 1.5, min_ram_mb = 0 },
          filter = function(node, ctx)
            if node.ram_mb < ctx.params.min_ram_mb then return false, "needs " .. ctx.params.min_ram_mb .. " MiB RAM" end
            return true
          end,
          score = function(node, ctx)
            local p = ctx.params
            local inv = node.latency_ms > 0 and 1 / node.latency_ms or 1
            local terms = { cpu = p.w_cpu * node.cpu, ram = p.w_ram * node.ram_mb, gpu = p.w_gpu * node.gpu,
                            latency = p.w_latency * inv, io = -p.w_io * node.io }
            return terms.cpu + terms.ram + terms.gpu + terms.latency + terms.io, terms
          end,
        }
        """

    static func stats(cpu: UInt32, ram: UInt64, gpu: UInt32, latency: UInt32, io: UInt32) -> NodeStats {
        NodeStats(
            cpuFreeMilli: cpu, ramFreeMB: ram, gpuFreeMilli: gpu, latencyMicros: latency, ioPressureMilli: io, usedBytes: 0,
            reportedAtMillis: 1)
    }

    static func cluster() throws -> DerivedState {
        try Fixtures.machine([
            Fixtures.register("n1", zone: "z1"), Fixtures.register("n2", zone: "z2"), Fixtures.register("n3", zone: "z3"),
            Fixtures.register("n4", zone: "z1"),
            .nodeStatsReported(nodeID: "n1", stats: stats(cpu: 800, ram: 16_000, gpu: 0, latency: 5_000, io: 100)),
            .nodeStatsReported(nodeID: "n2", stats: stats(cpu: 500, ram: 8_000, gpu: 1_000, latency: 10_000, io: 50)),
            .nodeStatsReported(nodeID: "n3", stats: stats(cpu: 500, ram: 256, gpu: 1_000, latency: 10_000, io: 50)),
            .nodeStatusChanged(nodeID: "n4", status: .draining),
            Fixtures.declare(Fixtures.hash(1), replicationFactor: 2),
        ]).state
    }

    @Test func prototypeWorkedScoresAndRanking() throws {
        let state = try Self.cluster()
        let policy = try Policy.load(source: Self.weighted, fileName: "inline.lua")
        let request = try #require(ChunkRequest(chunk: Fixtures.hash(1), in: state))
        let decision = try Scheduler.place(request, inputs: DecisionInputs(state: state), policy: policy)
        let n1 = try #require(decision.verdicts.first { $0.nodeID == "n1" })
        let n2 = try #require(decision.verdicts.first { $0.nodeID == "n2" })
        #expect(abs((n1.score ?? 0) - 26.65) < 1e-9)
        #expect(abs((n2.score ?? 0) - 15.425) < 1e-9)
        #expect(n1.terms.map(\.name) == ["cpu", "gpu", "io", "latency", "ram"])
        // n2 and n3 tie exactly (RAM is the only difference: 8 vs 0.256): check the order n1, n2.
        #expect(decision.chosen == ["n1", "n2"])
        #expect(decision.verdicts.first { $0.nodeID == "n4" }?.reason == "status draining")
        #expect(decision.want == 2)
        #expect(decision.provenance.policyName == "inline-weighted")
    }

    @Test func requirementFilterExcludes() throws {
        let state = try Self.cluster()
        let policy = try Policy.load(source: Self.weighted, fileName: "inline.lua")
        let request = try #require(ChunkRequest(chunk: Fixtures.hash(1), in: state))
        let decision = try Scheduler.place(
            request, inputs: DecisionInputs(state: state), policy: policy, overrides: [("min_ram_mb", .number(.integer(512)))])
        #expect(decision.verdicts.first { $0.nodeID == "n3" }?.reason == "needs 512 MiB RAM")
        #expect(!decision.chosen.contains("n3"))
        #expect(throws: PolicyError.self) {
            try Scheduler.place(request, inputs: DecisionInputs(state: state), policy: policy, overrides: [("nope", .bool(true))])
        }
    }

    /// Text a policy writes reaches terminals, logs and API bodies as one printable line: a filter
    /// reason and an error value with newlines, carriage returns and escape sequences are escaped, and
    /// a long one is cut.
    @Test func policyTextIsOnePrintableLine() throws {
        let source = """
            return { name = 'forger', version = 1, api = 1,
              filter = function(node, ctx)
                if node.id == 'node-1' then return false, 'full\\r\\nError: forged \\27[31mred' .. ('x'):rep(2000) end
                return true
              end,
              score = function(node, ctx)
                if ctx.params.explode then error('x\\nError: forged', 0) end
                return 1
              end,
              params = { explode = false } }
            """
        let policy = try Policy.load(source: source, fileName: "forger.lua")
        let state = try Fixtures.machine((0..<3).map { Fixtures.register("node-\($0)") }).state
        let request = ChunkRequest(hash: .zero, sizeBytes: 1, replicationFactor: 1)
        let decision = try Scheduler.place(request, inputs: DecisionInputs(state: state), policy: policy)
        let reason = try #require(decision.verdicts.first { $0.nodeID == "node-1" }?.reason)
        #expect(reason.hasPrefix(#"full\r\nError: forged \u{1B}[31mred"#), "\(reason)")
        #expect(reason.hasSuffix("… (1628 more characters)"), "\(reason.suffix(40))")
        #expect(!reason.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        #expect(throws: PolicyError.self) {
            _ = try Scheduler.place(request, inputs: DecisionInputs(state: state), policy: policy, overrides: [("explode", .bool(true))])
        }
        do {
            _ = try Scheduler.place(request, inputs: DecisionInputs(state: state), policy: policy, overrides: [("explode", .bool(true))])
        } catch {
            #expect(error.message.contains(#"x\nError: forged"#), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
        #expect(PrintableText.oneLine("a\u{2028}b\u{202E}c\td") == #"a\u{2028}b\u{202E}c\td"#)
    }

    /// `policy check` runs each example in a second, differently built state and fails an example whose
    /// outcome changes: here `#` of tables with holes, whose answer follows the layout.
    @Test func anExampleWhoseOutcomeFollowsTheLayoutFailsTheCheck() throws {
        // The hostile fixture whose score is `#` of tables with holes, given one example.
        let fixture = try String(
            contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/hostile/192-length-follows-layout.lua"), encoding: .utf8)
        let example =
            "{ name = 'four', chunk = { size = 1, replicas = 2 }, nodes = { { id = 'a' }, { id = 'b' }, { id = 'c' }, { id = 'd' } }, want = 2, expect = { 'a', 'b' } }"
        let source = fixture.replacingOccurrences(
            of: "  score = function(node, ctx)", with: "  examples = { \(example) },\n  score = function(node, ctx)")
        #expect(source != fixture)
        let policy = try Policy.load(source: source, fileName: "layout.lua")
        let results = policy.runExamples()
        #expect(results.count == 1)
        let failures = results.first?.failures ?? []
        #expect(failures.contains { $0.hasPrefix("the outcome depends on how Lua laid out a table") }, "\(failures)")

        // The same policy scoring without `#` on tables with holes passes the layout check.
        let plain = try Policy.load(
            source: source.replacingOccurrences(of: "total = total + #t", with: "total = total + t[10]"), fileName: "plain.lua")
        #expect(plain.runExamples().first?.failures.contains { $0.hasPrefix("the outcome depends") } == false)
    }

    /// `policy check` is bounded as a whole: the source's size, the number of examples, and the work
    /// all examples may use together (compilation included).
    @Test func checkingAPolicyIsBoundedAsAWhole() throws {
        let big =
            "return { name = 'big', version = 1, api = 1, score = function(node, ctx) return 1 end }\n"
            + String(repeating: "-- padding\n", count: Policy.maxSourceBytes / 11 + 1)
        #expect(throws: PolicyError.self) { try Policy.load(source: big, fileName: "big.lua") }
        do {
            _ = try Policy.load(source: big, fileName: "big.lua")
        } catch {
            #expect(error.message == "big.lua: the source is \(big.utf8.count) bytes; a policy may be at most 1048576 bytes (1 MiB)")
        }

        let example = "{ chunk = { size = 1, replicas = 1 }, nodes = { { id = 'a' } }, expect = { 'a' } }"
        func source(examples: Int, score: String) -> String {
            """
            return { name = 'many', version = 1, api = 1, budget = { instructions = 10000000 },
              score = function(node, ctx) \(score) end,
              examples = { \(Array(repeating: example, count: examples).joined(separator: ", ")) } }
            """
        }
        #expect(throws: PolicyError.self) { try Policy.load(source: source(examples: 257, score: "return 1"), fileName: "many.lua") }
        #expect(try Policy.load(source: source(examples: 256, score: "return 1"), fileName: "many.lua").runExamples().allSatisfy(\.passed))

        // Every example burns its whole budget (twice: two states): the check stops after 250,000,000.
        let burning = try Policy.load(source: source(examples: 40, score: "while true do end"), fileName: "burn.lua")
        let results = burning.runExamples()
        let notRun = results.filter { $0.failures.first?.hasPrefix("not run: the examples before it used more than 250000000") == true }
        #expect(results.count == 40)
        #expect(notRun.count == 27, "\(results.count - notRun.count) examples ran")
    }

    @Test func equalScoresGoToTheSmallestID() throws {
        let source = "return { name = 'flat', version = 1, api = 1, score = function(node, ctx) return 1 end }"
        let policy = try Policy.load(source: source, fileName: "flat.lua")
        let state = try Fixtures.machine((0..<10).reversed().map { Fixtures.register("node-\($0)") }).state
        let decision = try Scheduler.place(
            ChunkRequest(hash: .zero, sizeBytes: 1, replicationFactor: 3), inputs: DecisionInputs(state: state), policy: policy)
        #expect(decision.chosen == ["node-0", "node-1", "node-2"])
    }

    @Test func repairNeverChoosesACurrentHolderAndWantsOnlyWhatIsMissing() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("a"), Fixtures.register("b"), Fixtures.register("c"), Fixtures.register("d"),
            Fixtures.declare(Fixtures.hash(2), replicationFactor: 3), Fixtures.replica(Fixtures.hash(2), on: "a", index: 0),
            Fixtures.replica(Fixtures.hash(2), on: "b", index: 1), Fixtures.replica(Fixtures.hash(2), on: "c", index: 2),
        ])
        try machine.apply(event: .nodeStatusChanged(nodeID: "b", status: .down))
        let policy = try Policy.load(
            source: "return { name = 'flat', version = 1, api = 1, score = function() return 1 end }", fileName: "flat.lua")
        let request = try #require(ChunkRequest(chunk: Fixtures.hash(2), in: machine.state))
        #expect(request.want == 1)
        #expect(request.holders == ["a", "c"])
        let decision = try Scheduler.place(request, inputs: DecisionInputs(state: machine.state), policy: policy)
        #expect(decision.chosen == ["d"])
        #expect(decision.verdicts.first { $0.nodeID == "a" }?.reason == "already holds chunk")
        #expect(decision.verdicts.first { $0.nodeID == "b" }?.reason == "status down")
    }

    @Test(arguments: [
        ("return {'x'}", "unknown node id"),
        ("return {'a', 'a'}", "twice"),
        ("return {'a', 'b', 'c'}", "only 2 are wanted"),
        ("return {1}", "as strings"),
        ("local t = {} t[1] = 'a' t[3] = 'b' return t", "array of node ids"),
        ("return {'z'}", "did not pass the filter"),
    ])
    func selectOutputIsValidated(body: String, expected: String) throws {
        let source = """
            return { name = 'bad-select', version = 1, api = 1,
              filter = function(node) return node.id ~= 'z' end,
              score = function() return 1 end,
              select = function(ranked, ctx) \(body) end }
            """
        let policy = try Policy.load(source: source, fileName: "bad.lua")
        let state = try Fixtures.machine([Fixtures.register("a"), Fixtures.register("b"), Fixtures.register("z")]).state
        let error = #expect(throws: PolicyError.self) {
            try Scheduler.place(
                ChunkRequest(hash: .zero, sizeBytes: 1, replicationFactor: 2), inputs: DecisionInputs(state: state), policy: policy)
        }
        #expect(error?.outcome == .invalidResult)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test func decisionsAreReproducibleAndDependOnTheirInputs() throws {
        let source = "return { name = 'random', version = 1, api = 1, score = function(node, ctx) return math.random() end }"
        let policy = try Policy.load(source: source, fileName: "random.lua")
        let state = try Fixtures.machine((0..<20).map { Fixtures.register("n\($0)") }).state
        let inputs = DecisionInputs(state: state)
        let requests = (0..<5).map { ChunkRequest(hash: Fixtures.hash(UInt8($0)), sizeBytes: 1, replicationFactor: 3) }
        let first = try Scheduler.place(requests, inputs: inputs, policy: policy).map { try $0.get() }
        let second = try Scheduler.place(requests, inputs: inputs, policy: policy).map { try $0.get() }
        #expect(first.map(\.digest) == second.map(\.digest))
        #expect(first.map(\.chosen) == second.map(\.chosen))
        // Different chunks give different seeds, so a random policy chooses differently.
        #expect(Set(first.map(\.seed)).count == 5)
        #expect(Set(first.map(\.chosen)).count > 1)
    }

    @Test func declarationErrorsAreOneClearLine() {
        let cases: [(String, String)] = [
            ("return 42", "must return a table"),
            ("return { version = 1, api = 1, score = function() return 1 end }", "missing name"),
            ("return { name = 'x', version = 0, api = 1, score = function() return 1 end }", "version must be an integer from 1 to"),
            ("return { name = 'x', version = 1, api = 3, score = function() return 1 end }", "api must be 1 or 2"),
            ("return { name = 'x', version = 1, api = 1 }", "missing score hook"),
            (
                "return { name = 'x', version = 1, api = 1, score = function() return 1 end, admit = function() return true end }",
                "admit is a hook of API level 2"
            ),
            ("return { name = 'x', version = 1, api = 1, score = function() return 1 end, params = { w = {} } }", "parameter w"),
            ("return {", "syntax"),
            ("while true do end", "instruction budget"),
        ]
        for (source, expected) in cases {
            let error = #expect(throws: PolicyError.self) { try Policy.load(source: source, fileName: "case.lua") }
            #expect(error?.description.contains(expected) == true, "\(source): \(error?.description ?? "loaded")")
            #expect(error?.description.contains("\n") == false)
        }
    }
}
