import DSDNCore
import LuaSandbox

/// One bundled example of a policy: inputs and the expected decision (docs/policies.md).
public struct PolicyExample: Hashable, Sendable {
    /// Its name.
    public var name: String
    /// The chunk.
    public var chunk: ChunkRequest
    /// The nodes, sorted by id, with defaults filled in.
    var nodes: [NodeInput]
    /// Parameter overrides.
    public var overrides: [(String, ParameterValue)]
    /// The exact chosen ids expected, in order.
    public var expect: [String]
    /// Expected scores by node id (checked to 1e-9 relative).
    public var scores: [(String, Double)]
    /// Expected filter reasons by node id (substrings).
    public var rejected: [(String, String)]

    /// Equality by name and expectations.
    public static func == (lhs: PolicyExample, rhs: PolicyExample) -> Bool {
        lhs.name == rhs.name && lhs.chunk == rhs.chunk && lhs.nodes == rhs.nodes && lhs.expect == rhs.expect
    }

    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    init(_ value: LuaValue, index: Int, policy: String, file: String) throws(PolicyError) {
        name = value["name"].stringValue ?? "example \(index + 1)"
        let label = "\(file): \(policy): example \(name.debugDescription)"
        func invalid(_ message: String) -> PolicyError { PolicyError(.invalidResult, "\(label): \(message)") }

        try Self.refuseUnknown(value, ["chunk", "expect", "name", "nodes", "params", "rejected", "scores", "want"], "example", invalid)
        let chunkTable = value["chunk"]
        guard case .map = chunkTable else { throw invalid("chunk must be a table") }
        try Self.refuseUnknown(chunkTable, ["hash", "holders", "replicas", "size"], "chunk", invalid)
        let hash: Hash256
        if let hex = chunkTable["hash"].stringValue {
            guard let parsed = try? Hash256(hex: hex) else { throw invalid("chunk.hash must be 64 hex characters") }
            hash = parsed
        } else {
            hash = .zero
        }
        let size = chunkTable["size"].integerValue ?? 1 << 20
        let replicas = chunkTable["replicas"].integerValue ?? 3
        guard size > 0, replicas > 0 else { throw invalid("chunk.size and chunk.replicas must be positive") }
        guard let holders = Self.strings(chunkTable["holders"]) else { throw invalid("chunk.holders must be an array of node ids") }
        if value["want"] != .nil, (value["want"].integerValue ?? -1) < 0 { throw invalid("want must be an integer >= 0") }
        let want = value["want"].integerValue.map(Int.init)
        chunk = ChunkRequest(hash: hash, sizeBytes: UInt64(size), replicationFactor: Int(replicas), holders: holders, want: want)

        guard case let .array(rawNodes) = value["nodes"] else { throw invalid("nodes must be a non-empty array") }
        var nodes: [NodeInput] = []
        let nodeFields = ["capacity", "cpu", "gpu", "id", "io", "latency_ms", "ram_mb", "status", "used", "zone"]
        for raw in rawNodes {
            guard let id = raw["id"].stringValue else { throw invalid("every node needs an id") }
            // Example ids are held to the rules of real ones: they end up in terminal lines.
            do {
                try Validation.identifier(id, field: "node id")
                if let zone = raw["zone"].stringValue, !zone.isEmpty { try Validation.identifier(zone, field: "node \(id): zone") }
            } catch {
                throw invalid(error.message)
            }
            try Self.refuseUnknown(raw, nodeFields, "node \(id)", invalid)
            let capacity = raw["capacity"].integerValue ?? 1 << 40
            let used = raw["used"].integerValue ?? 0
            guard capacity >= 0, used >= 0 else { throw invalid("node \(id): capacity and used must be integers >= 0") }
            let statusName = raw["status"].stringValue ?? "active"
            guard let status = NodeStatus(name: statusName) else {
                throw invalid("node \(id): status must be active, draining or down, got \(statusName.debugDescription)")
            }
            for stat in ["cpu", "ram_mb", "gpu", "latency_ms", "io"] where raw[stat] != .nil {
                guard let number = raw[stat].doubleValue, number.isFinite, number >= 0 else {
                    throw invalid("node \(id): \(stat) must be a finite number >= 0")
                }
            }
            let reported = ["cpu", "ram_mb", "gpu", "latency_ms", "io"].contains { raw[$0] != .nil }
            let stats = NodeInput.Stats(
                cpu: raw["cpu"].doubleValue ?? 0, ramMB: raw["ram_mb"].doubleValue ?? 0, gpu: raw["gpu"].doubleValue ?? 0,
                latencyMS: raw["latency_ms"].doubleValue ?? 0, io: raw["io"].doubleValue ?? 0)
            nodes.append(
                NodeInput(
                    id: id, zone: raw["zone"].stringValue ?? "", capacity: capacity, used: used, status: status,
                    stats: reported ? stats : nil))
        }
        nodes.sort { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        self.nodes = nodes

        overrides = []
        if value["params"] != .nil {
            guard let entries = value["params"].mapEntries else { throw invalid("params must be a table of name = value") }
            for entry in entries {
                guard let key = entry.key.stringValue else { throw invalid("params keys must be strings") }
                switch entry.value {
                case .integer, .number: overrides.append((key, .number(entry.value)))
                case let .bool(flag): overrides.append((key, .bool(flag)))
                case let .string(text): overrides.append((key, .string(text)))
                default: throw invalid("param \(key) must be a number, boolean or string")
                }
            }
        }
        guard let expect = Self.strings(value["expect"]) else { throw invalid("expect must be an array of node ids") }
        self.expect = expect
        scores = []
        if value["scores"] != .nil {
            guard let entries = value["scores"].mapEntries else { throw invalid("scores must map node ids to numbers: { a = 1.5 }") }
            for entry in entries {
                guard let id = entry.key.stringValue, let score = entry.value.doubleValue else {
                    throw invalid("scores must map node ids to numbers")
                }
                scores.append((id, score))
            }
        }
        rejected = []
        if value["rejected"] != .nil {
            guard let entries = value["rejected"].mapEntries else {
                throw invalid("rejected must map node ids to reasons: { c = \"needs\" }")
            }
            for entry in entries {
                guard let id = entry.key.stringValue, let reason = entry.value.stringValue else {
                    throw invalid("rejected must map node ids to reasons")
                }
                rejected.append((id, reason))
            }
        }
    }

    private static func refuseUnknown(
        _ table: LuaValue, _ known: [String], _ what: String, _ invalid: (String) -> PolicyError
    ) throws(PolicyError) {
        for entry in table.mapEntries ?? [] {
            guard let key = entry.key.stringValue, known.contains(key) else {
                throw invalid(
                    "unknown \(what) field \(entry.key.stringValue ?? entry.key.typeName) (known: \(known.joined(separator: ", ")))")
            }
        }
    }

    private static func strings(_ value: LuaValue) -> [String]? {
        if value == .nil { return [] }
        guard let values = value.arrayValue, values.allSatisfy({ $0.stringValue != nil }) else { return nil }
        return values.compactMap(\.stringValue)
    }

    /// The decision inputs this example describes (zones derived from its nodes).
    var inputs: DecisionInputs { DecisionInputs(nodes: nodes, zones: ZoneInput.zones(of: nodes)) }
}

/// The outcome of running one example.
public struct ExampleResult: Hashable, Sendable {
    /// The example's name.
    public var name: String
    /// What went wrong; empty when it passed.
    public var failures: [String]
    /// The decision, when the policy produced one.
    public var decision: PlacementDecision?
    /// The classified error, when the policy failed.
    public var error: PolicyError?

    /// Whether it passed.
    public var passed: Bool { failures.isEmpty }

    /// Why `policy check` refuses a policy whose examples gave `results` (one line starting with
    /// `file`); `nil` when it passes. Publishing refuses the same.
    public static func refusal(_ results: [ExampleResult], file: String) -> String? {
        if results.isEmpty { return "\(file): the policy has no examples (policy check runs them; add at least one)" }
        if let failed = results.first(where: { !$0.passed }) {
            return "\(file): example \(failed.name.debugDescription) failed: \(failed.failures.joined(separator: "; "))"
        }
        return nil
    }
}

extension Policy {
    /// Runs every bundled example (each in a fresh sandbox, and again in a differently built one) and
    /// compares with its expectations. Stops running them once they have used ``maxExampleWork``.
    public func runExamples() -> [ExampleResult] {
        // Each run compiles the source, runs the top level and decides: all of it counts.
        let perRun = UInt64(source.utf8.count / 16) + loadInstructions
        var work: UInt64 = 0
        return PolicySandbox.withLargeStack {
            examples.map { example in
                guard work <= Self.maxExampleWork else {
                    let failure =
                        "not run: the examples before it used more than \(Self.maxExampleWork) instructions in all (compilation included)"
                    return ExampleResult(name: example.name, failures: [failure], decision: nil, error: nil)
                }
                let parameters: [(name: String, value: ParameterValue)]
                do throws(PolicyError) {
                    parameters = try self.parameters(overriding: example.overrides)
                } catch {
                    return ExampleResult(name: example.name, failures: [error.message], decision: nil, error: error)
                }
                let inputs = example.inputs
                let outcome = Scheduler.decide(example.chunk, inputs: inputs, policy: self, parameters: parameters)
                // The same example in a state built differently: another string hash seed, at other
                // addresses (a second state stays alive meanwhile). An outcome that changes depends on
                // how Lua laid out a table, which no coordinator may.
                let spacer = try? PolicySandbox()
                let elsewhere = withExtendedLifetime(spacer) {
                    Scheduler.decide(
                        example.chunk, inputs: inputs, policy: self, parameters: parameters, hashSeed: Self.layoutCheckHashSeed)
                }
                work += 2 * perRun + Self.instructions(of: outcome) + Self.instructions(of: elsewhere)
                let layout = Self.layoutDifference(outcome, elsewhere).map { [$0] } ?? []
                switch outcome {
                case let .failure(error):
                    return ExampleResult(
                        name: example.name, failures: ["\(error.outcome.rawValue): \(error.message)"] + layout, decision: nil,
                        error: error)
                case let .success(decision):
                    return ExampleResult(
                        name: example.name, failures: example.compare(decision) + layout, decision: decision, error: nil)
                }
            }
        }
    }

    private static func instructions(of outcome: Result<PlacementDecision, PolicyError>) -> UInt64 {
        switch outcome {
        case let .success(decision): decision.instructions
        case let .failure(error): error.instructions
        }
    }
}

extension Policy {
    /// The hash seed of the second state `policy check` runs each example in.
    static let layoutCheckHashSeed: UInt32 = 0x9E37_79B9

    /// How two runs of one example, in differently built states, differ in outcome; nil when they agree.
    static func layoutDifference(
        _ first: Result<PlacementDecision, PolicyError>, _ second: Result<PlacementDecision, PolicyError>
    ) -> String? {
        let prefix = "the outcome depends on how Lua laid out a table (for example # of a table with holes, docs/policies.md §9.8):"
        switch (first, second) {
        case let (.success(one), .success(other)):
            guard one.digest != other.digest else { return nil }
            if one.chosen != other.chosen {
                return
                    "\(prefix) in another state it chose [\(other.chosen.joined(separator: ", "))] instead of [\(one.chosen.joined(separator: ", "))]"
            }
            return "\(prefix) in another state its verdicts differ"
        case let (.success, .failure(error)):
            return "\(prefix) in another state it ended in \(error.outcome.rawValue): \(error.message)"
        case let (.failure(error), .success):
            return "\(prefix) in another state it did not end in \(error.outcome.rawValue) but decided"
        case let (.failure(one), .failure(other)):
            guard one.outcome != other.outcome else { return nil }
            return "\(prefix) in another state it ended in \(other.outcome.rawValue) instead of \(one.outcome.rawValue)"
        }
    }
}

extension PolicyExample {
    func compare(_ decision: PlacementDecision) -> [String] {
        var failures: [String] = []
        if decision.chosen != expect {
            failures.append("chose [\(decision.chosen.joined(separator: ", "))], expected [\(expect.joined(separator: ", "))]")
        }
        for (id, expected) in scores {
            guard let verdict = decision.verdicts.first(where: { $0.nodeID == id }) else {
                failures.append("no node \(id) to check the score of")
                continue
            }
            guard let score = verdict.score else {
                failures.append("node \(id) has no score (\(verdict.reason ?? "not a candidate")), expected \(expected)")
                continue
            }
            if abs(score - expected) > 1e-9 * max(1, abs(expected)) {
                failures.append("node \(id) scored \(score), expected \(expected)")
            }
        }
        for (id, reason) in rejected {
            guard let verdict = decision.verdicts.first(where: { $0.nodeID == id }) else {
                failures.append("no node \(id) to check the rejection of")
                continue
            }
            if verdict.passed || !(verdict.reason ?? "").contains(reason) {
                failures.append(
                    "node \(id): expected rejection containing \(reason.debugDescription), got \(verdict.passed ? "passed" : (verdict.reason ?? "no reason"))"
                )
            }
        }
        return failures
    }
}
