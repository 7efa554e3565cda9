import Foundation
import LuaSandbox
import Testing

/// Runs every policy in Tests/Fixtures/hostile through the raw sandbox and checks that it ends the way
/// its header says: the outcome class, where it failed, a message fragment, and (for deterministic
/// successes) the chosen ids. Every case is run three times in fresh states and must repeat exactly, must
/// finish quickly, and must leave the host able to run a benign policy afterwards.
///
/// Header lines of a fixture (`-- key: value`, at the top; after the chunk for the bytecode file):
/// - `expect`: ok | syntax_error | runtime_error | instruction_budget | memory_budget | invalid_result
/// - `phase`: load | decide — where it must fail (for `ok`: decide, i.e. load and decide both succeed)
/// - `message`: a substring the failure message must contain (optional)
/// - `engine`: invalid_result — the raw sandbox returns ok but the engine layer must reject it (optional;
///   the raw sandbox may also reject it itself, as invalid_result, which is accepted too)
/// - `chosen`: comma-separated ids the decision must choose, in order (optional, `ok` only)
/// - `why`: one line
@Suite struct HostilePolicyTests {
    // MARK: - Fixtures

    enum Phase: String, Sendable {
        case load
        case decide
    }

    struct Fixture: Sendable {
        var name: String
        var source: String
        var expect: SandboxOutcome
        var phase: Phase
        var message: String?
        var engine: SandboxOutcome?
        var chosen: [String]?
        /// `-- costs: nondeterministic`: instructions and peak memory may differ between states (none of
        /// the fixtures says so since every state hashes strings with one seed); the outcome, phase,
        /// message and value must not.
        var costsDeterministic = true
        var why: String
        /// The header lines open the file (false only for the bytecode fixture).
        var headerFirst: Bool
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent("hostile")

    static let fixtureNames: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".lua") }.sorted()

    static func fixture(_ name: String) throws -> Fixture {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
            throw FixtureError(description: "cannot read \(name)")
        }
        // Lua text is bytes; invalid UTF-8 (only in the bytecode file) is replaced, keeping the ESC "Lua" head.
        let source = String(decoding: data, as: UTF8.self)
        var fields: [String: String] = [:]
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("-- "), let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[line.index(line.startIndex, offsetBy: 3)..<colon])
            guard ["expect", "phase", "message", "engine", "chosen", "costs", "why"].contains(key), fields[key] == nil else { continue }
            fields[key] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        guard let expectText = fields["expect"], let expect = SandboxOutcome(rawValue: expectText) else {
            throw FixtureError(description: "\(name): missing or unknown '-- expect:'")
        }
        guard let phaseText = fields["phase"], let phase = Phase(rawValue: phaseText) else {
            throw FixtureError(description: "\(name): missing or unknown '-- phase:'")
        }
        guard let why = fields["why"], !why.isEmpty else { throw FixtureError(description: "\(name): missing '-- why:'") }
        var engine: SandboxOutcome?
        if let text = fields["engine"] {
            guard let outcome = SandboxOutcome(rawValue: text) else { throw FixtureError(description: "\(name): unknown engine outcome") }
            engine = outcome
        }
        return Fixture(
            name: name, source: source, expect: expect, phase: phase, message: fields["message"], engine: engine,
            chosen: fields["chosen"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
            costsDeterministic: fields["costs"] != "nondeterministic", why: why, headerFirst: source.hasPrefix("-- expect: "))
    }

    // MARK: - The fixed decision input

    static let budget = SandboxBudget(instructions: 2_000_000, memory: 8 << 20)
    static let seed: Int64 = 42

    static func node(
        _ id: String, zone: String, capacity: Int64, used: Int64, cpu: Double, ram: Double, gpu: Double, latency: Double, io: Double
    ) -> LuaValue {
        .record([
            ("id", .string(id)), ("zone", .string(zone)), ("capacity", .integer(capacity)), ("used", .integer(used)),
            ("free", .integer(capacity - used)), ("status", .string("active")), ("holds", .bool(false)),
            ("eligible", .bool(true)), ("has_stats", .bool(true)), ("cpu", .number(cpu)), ("ram_mb", .number(ram)),
            ("gpu", .number(gpu)), ("latency_ms", .number(latency)), ("io", .number(io)),
        ])
    }

    static let nodes: [LuaValue] = [
        node("a", zone: "z1", capacity: 1_000_000_000_000, used: 100_000_000_000, cpu: 0.8, ram: 16000, gpu: 0, latency: 5, io: 0.1),
        node("b", zone: "z1", capacity: 2_000_000_000_000, used: 500_000_000_000, cpu: 2.5, ram: 32000, gpu: 1, latency: 12, io: 0.4),
        node("c", zone: "z2", capacity: 500_000_000_000, used: 0, cpu: 0.2, ram: 4000, gpu: 0, latency: 3, io: 0.05),
        node("d", zone: "z3", capacity: 1_000_000_000_000, used: 900_000_000_000, cpu: 4.0, ram: 64000, gpu: 2, latency: 40, io: 0.9),
    ]

    static func input(params: LuaValue) -> LuaValue {
        .record([
            ("nodes", .array(nodes)),
            (
                "ctx",
                .record([
                    (
                        "chunk",
                        .record([
                            ("hash", .string(String(repeating: "0", count: 64))), ("size", .integer(1024)), ("replicas", .integer(3)),
                            ("holders", .array([])),
                        ])
                    ),
                    ("want", .integer(3)), ("params", params), ("zones", .array([])), ("seed", .integer(seed)),
                ])
            ),
        ])
    }

    /// The params the policy declared (a table), or an empty map.
    static func params(of declaration: LuaValue?) -> LuaValue {
        switch declaration?["params"] {
        case let value? where value.typeName == "table": value
        default: .map([])
        }
    }

    // MARK: - Running

    struct Run: Equatable {
        var load: SandboxEvaluation
        var decision: SandboxEvaluation?

        /// Where it ended and how: the load when it failed, else the decision.
        var phase: Phase { decision == nil ? .load : .decide }
        var final: SandboxEvaluation { decision ?? load }

        /// Everything must repeat exactly.
        static func == (lhs: Run, rhs: Run) -> Bool { lhs.load == rhs.load && lhs.decision == rhs.decision }

        /// The same outcome, phase, message and value, costs aside.
        func sameResult(as other: Run) -> Bool {
            func result(_ evaluation: SandboxEvaluation?) -> [String] {
                guard let evaluation else { return [] }
                return [evaluation.outcome.rawValue, evaluation.message, "\(String(describing: evaluation.value))"]
            }
            return phase == other.phase && result(load) == result(other.load) && result(decision) == result(other.decision)
        }
    }

    /// Loads `source` in a fresh sandbox and, if that succeeds, decides once on the fixed input.
    ///
    /// `spacers` other states are kept alive meanwhile, so that the sandbox's `lua_State` sits at a
    /// different address: Lua seeds its string hash from that address (and the clock), and a repeated
    /// run in the same process would otherwise often reuse the same block and the same seed.
    static func run(
        source: String, chunkName: String, spacers: Int = 0, hashSeed: UInt32 = PolicySandbox.productionHashSeed
    ) -> Run? {
        let result = PolicySandbox.withLargeStack { () -> (SandboxEvaluation, SandboxEvaluation?)? in
            let others = (0..<spacers).compactMap { _ in try? PolicySandbox() }
            defer { withExtendedLifetime(others) {} }
            guard let sandbox = try? PolicySandbox(hashSeed: hashSeed) else { return nil }
            let load = sandbox.load(source: source, chunkName: chunkName, budget: budget)
            guard load.outcome == .ok else { return (load, nil) }
            let decision = sandbox.decide(input: input(params: params(of: load.value)), seed: seed, budget: budget)
            return (load, decision)
        }
        guard let result else { return nil }
        return Run(load: result.0, decision: result.1)
    }

    /// `#` on a table with holes depends on the table's layout, which follows the string hash seed. Every
    /// state gets the same seed, so the answer is the same at any address; other seeds give other
    /// answers, which shows the fixture really observes the layout.
    @Test func aLengthThatFollowsTheLayoutIsTheSameInEveryState() throws {
        let fixture = try Self.fixture("192-length-follows-layout.lua")
        let atAddresses = (0..<4).map { spacers in Self.run(source: fixture.source, chunkName: fixture.name, spacers: spacers) }
        let first = try #require(atAddresses[0])
        #expect(first.final.outcome == .ok, "\(first.final.message)")
        for other in atAddresses.dropFirst() { #expect(other == first) }
        var answers = Set<[UInt8]>()
        for seed in UInt32(1)...24 {
            let run = try #require(Self.run(source: fixture.source, chunkName: fixture.name, hashSeed: seed))
            answers.insert(run.final.valueBytes)
        }
        #expect(answers.count >= 2, "under 24 seeds the fixture always decided the same: it does not observe the layout")
    }

    static let benign = """
        return {
          name = "benign", version = 1, api = 1, params = { w = 2 },
          filter = function(node, ctx) return node.free >= ctx.chunk.size, "too small" end,
          score = function(node, ctx) return node.cpu * ctx.params.w + node.free / 1e12, { cpu = node.cpu } end,
        }
        """

    /// The chosen ids for messages (non-strings shown by type).
    static func ids(_ value: LuaValue?) -> [String] {
        guard case let .array(items)? = value else { return [value?.typeName ?? "nothing"] }
        return items.map { $0.stringValue ?? $0.typeName }
    }

    /// Which parts of two runs differ, for messages.
    static func difference(_ a: Run, _ b: Run) -> String {
        var parts: [String] = []
        let pairs: [(String, SandboxEvaluation?, SandboxEvaluation?)] = [("load", a.load, b.load), ("decision", a.decision, b.decision)]
        for (label, x, y) in pairs {
            guard let x, let y else {
                if (x == nil) != (y == nil) { parts.append("\(label) presence") }
                continue
            }
            if x.outcome != y.outcome { parts.append("\(label) outcome") }
            if x.instructions != y.instructions { parts.append("\(label) instructions") }
            if x.peakMemory != y.peakMemory { parts.append("\(label) peakMemory") }
            if x.value != y.value { parts.append("\(label) value") }
            if x.message != y.message { parts.append("\(label) message") }
        }
        return "(" + parts.joined(separator: ", ") + ")"
    }

    // MARK: - Tests

    @Test(arguments: fixtureNames)
    func hostilePolicy(_ name: String) throws {
        let fixture = try Self.fixture(name)
        let context = "\(name) — \(fixture.why)"
        guard let first = Self.run(source: fixture.source, chunkName: name) else {
            Issue.record("cannot create a Lua state for \(context)")
            return
        }
        let final = first.final

        // The outcome class, the phase and the message. What the engine must reject may already be
        // rejected by the raw sandbox (as invalid_result, anywhere); it must not pass for anything else.
        let rejectedEarly = fixture.engine == .invalidResult && final.outcome == .invalidResult
        #expect(
            final.outcome == fixture.expect || rejectedEarly,
            "\(context): got \(final.outcome.rawValue) (\(first.phase.rawValue)): \(final.message)")
        if fixture.expect == .ok {
            #expect(fixture.phase == .decide, "\(name): an ok fixture must be run through a decision (phase: decide)")
        }
        #expect(
            first.phase == fixture.phase || rejectedEarly,
            "\(context): ended in \(first.phase.rawValue), expected \(fixture.phase.rawValue): \(final.message)")
        if let fragment = fixture.message {
            #expect(final.message.contains(fragment), "\(context): message \"\(final.message)\" lacks \"\(fragment)\"")
        }

        // A successful decision is well-formed: one verdict per node, finite normalized scores.
        if let decision = first.decision, decision.outcome == .ok {
            checkDecision(decision, fixture: fixture, context: context)
        }

        // Deterministic: fresh states at other addresses repeat the evaluation
        // exactly. (Speed is not asserted here: the budgets bound the work, and timing belongs in benchmarks.)
        do {
            for attempt in 2...3 {
                guard let again = Self.run(source: fixture.source, chunkName: name, spacers: attempt - 1) else {
                    Issue.record("cannot create a Lua state for \(context)")
                    return
                }
                let same = fixture.costsDeterministic ? again == first : again.sameResult(as: first)
                #expect(
                    same,
                    """
                    \(context): run \(attempt) differs from run 1 \(Self.difference(first, again)): \
                    \(again.final.outcome.rawValue) instructions=\(again.final.instructions) peak=\(again.final.peakMemory) \
                    vs \(final.outcome.rawValue) instructions=\(final.instructions) peak=\(final.peakMemory)
                    """)
                if !same { break }
            }
        }

        // The host survives: a benign policy still loads and decides correctly in a fresh state.
        guard let benign = Self.run(source: Self.benign, chunkName: "benign") else {
            Issue.record("cannot create a Lua state after \(name)")
            return
        }
        #expect(benign.load.outcome == .ok, "after \(name): benign load: \(benign.load.message)")
        #expect(benign.decision?.outcome == .ok, "after \(name): benign decision: \(benign.decision?.message ?? "none")")
        #expect(benign.decision?.value?["chosen"] == .array([.string("d"), .string("b"), .string("a")]), "after \(name)")
        if case let .array(verdicts)? = benign.decision?.value?["verdicts"], verdicts.count == 4 {
            #expect(verdicts[3]["score"] == .number(4.0 * 2 + 100_000_000_000 / 1e12), "after \(name)")
        } else {
            Issue.record("after \(name): benign decision has no verdicts")
        }
    }

    func checkDecision(_ decision: SandboxEvaluation, fixture: Fixture, context: String) {
        guard case let .array(verdicts)? = decision.value?["verdicts"] else {
            Issue.record("\(context): an ok decision without verdicts")
            return
        }
        #expect(verdicts.count == Self.nodes.count, "\(context): \(verdicts.count) verdicts")
        if fixture.engine == nil {
            // Fixtures that forge node tables are left to the engine; the others keep the host's ids.
            #expect(verdicts.map { $0["id"] } == ["a", "b", "c", "d"].map(LuaValue.string), "\(context): verdict ids")
        }
        var negativeZero: [String] = []
        for verdict in verdicts where verdict["passed"] == .bool(true) {
            let id = verdict["id"].stringValue ?? "?"
            switch verdict["score"] {
            case .integer:
                break
            case let .number(score):
                // The contract: scores are finite, and -0.0 becomes 0.
                #expect(score.isFinite, "\(context): verdict \(id) has the score \(score)")
                if score == 0 && score.sign == .minus { negativeZero.append(id) }
            case let other:
                Issue.record("\(context): verdict \(id) has the score \(other)")
            }
        }
        #expect(negativeZero.isEmpty, "\(context): verdicts \(negativeZero) keep the score -0.0; the host normalizes -0.0 to 0")
        if let chosen = fixture.chosen {
            let actual = decision.value?["chosen"]
            let matches = actual == .array(chosen.map(LuaValue.string))
            #expect(matches, "\(context): chose \(Self.ids(actual)), expected \(chosen)")
        }
    }

    @Test func fixturesCoverEveryOutcomeClass() throws {
        let names = Self.fixtureNames
        #expect(names.count >= 40, "only \(names.count) hostile fixtures in \(Self.directory.path)")
        var byOutcome: [SandboxOutcome: Int] = [:]
        var phases: Set<String> = []
        var engineRejections = 0
        for name in names {
            #expect(
                name.range(of: #"^[0-9]{2,3}-[a-z0-9][a-z0-9-]*\.lua$"#, options: .regularExpression) != nil, "badly named fixture \(name)")
            let fixture = try Self.fixture(name)
            byOutcome[fixture.expect, default: 0] += 1
            phases.insert(fixture.phase.rawValue)
            if fixture.engine != nil { engineRejections += 1 }
            if fixture.chosen != nil { #expect(fixture.expect == .ok, "\(name): '-- chosen:' needs expect ok") }
            if fixture.source.hasPrefix("\u{1B}Lua") {
                #expect(fixture.expect == .syntaxError, "\(name): a bytecode chunk must be refused as syntax_error")
            } else {
                #expect(fixture.headerFirst, "\(name) must start with its '-- expect:' header line")
            }
        }
        for outcome in SandboxOutcome.allCases {
            #expect(byOutcome[outcome, default: 0] >= 1, "no hostile fixture expects \(outcome.rawValue)")
        }
        #expect(phases == ["load", "decide"])
        #expect(engineRejections >= 1)
        #expect(names.contains { (try? Self.fixture($0).source.hasPrefix("\u{1B}Lua")) == true }, "no bytecode fixture")
    }
}
