import ArgumentParser
import DSDNCore
import DSDNJSON
import DSDNPolicyPack
import DSDNScheduler
import Foundation
import LuaSandbox

/// `dsdn-coordinator policy …`: check, test and audit Lua placement policies.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and test Lua placement policies; publish, activate and tune them through the DA (docs/policies.md).",
        discussion: """
            Examples:
              dsdn-coordinator policy test
              dsdn-coordinator policy check policies/zone-spread.lua
            """,
        subcommands: [
            PolicyCheckCommand.self, PolicyTestCommand.self, PolicyProbeCommand.self, PolicyDigestCommand.self, PolicyPublishCommand.self,
            PolicyActivateCommand.self, PolicySetCommand.self, PolicyListCommand.self, PolicyShowCommand.self, PolicyHistoryCommand.self,
            PolicyShadowCommand.self, PolicyWatchCommand.self,
        ]
    )
}

/// Reads a policy file as UTF-8 text, or fails with one line. The source hash is of exactly these bytes.
func readPolicySource(_ path: String) throws -> String {
    // The size is checked before anything is read: a huge file is refused, not loaded.
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > Policy.maxSourceBytes {
        throw CommandFailure("invalid_result: " + Policy.oversizedSource(size, file: path))
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure("cannot read \(path): no such file or not readable")
    }
    if data.first == 0x1B {
        throw CommandFailure("syntax_error: \(path): attempt to load a binary chunk (policies are Lua text; bytecode is refused)")
    }
    guard let source = String(validating: Array(data), as: UTF8.self) else {
        throw CommandFailure("\(path): not UTF-8 text (policy files are Lua source in UTF-8)")
    }
    return source
}

/// Reads a policy file and loads it, or fails with one line.
func loadPolicy(_ path: String) throws -> Policy {
    let source = try readPolicySource(path)
    do {
        return try Policy.load(source: source, fileName: path)
    } catch {
        throw CommandFailure("\(error.outcome.rawValue): \(error.message)", cause: error)
    }
}

/// A pack policy by name (`weighted-score`), built into the executable, or else a Lua file.
func loadPolicy(nameOrPath: String) throws -> Policy {
    guard let source = PolicyPack.source(named: nameOrPath) else {
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            let names = PolicyPack.sources.map(\.name).joined(separator: ", ")
            throw CommandFailure("no pack policy or file named \(nameOrPath) (the pack: \(names))")
        }
        return try loadPolicy(nameOrPath)
    }
    do {
        return try Policy.load(source: source, fileName: "\(nameOrPath).lua")
    } catch {
        throw CommandFailure("\(error.outcome.rawValue): \(error.message)", cause: error)
    }
}

/// The per-file report shared by `check` and `test`.
struct PolicyReport {
    var path: String
    var policy: Policy?
    var loadError: PolicyError?
    var readError: String?
    var examples: [ExampleResult]

    init(path: String) {
        self.path = path
        examples = []
        let source: String
        do {
            source = try readPolicySource(path)
        } catch {
            readError = "\(error)"
            return
        }
        do throws(PolicyError) {
            let policy = try Policy.load(source: source, fileName: path)
            self.policy = policy
            examples = policy.runExamples()
        } catch {
            loadError = error
        }
    }

    var passed: Bool { readError == nil && loadError == nil && !examples.isEmpty && examples.allSatisfy(\.passed) }

    var failureLine: String? {
        if let readError { return readError }
        // The message starts with the file's path.
        if let loadError { return "\(loadError.outcome.rawValue): \(loadError.message)" }
        return ExampleResult.refusal(examples, file: path)
    }

    func printHuman() {
        guard let policy else {
            print("FAIL  \(path)")
            return
        }
        print("policy    \(policy.label)  api \(policy.apiLevel)  \(policy.description)")
        print("source    \(path)  sha256 \(policy.sourceHash.hex)")
        let hooks = [("filter", policy.hasFilter), ("score", true), ("admit", policy.hasAdmit), ("select", policy.hasSelect)].filter(\.1)
            .map(\.0)
        print("hooks     \(hooks.joined(separator: ", "))")
        print("params    \(policy.parameters.isEmpty ? "none" : policy.parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " "))")
        print("budget    \(policy.budget.instructions) instructions, \(policy.budget.memory) bytes per decision")
        print("top level \(policy.loadInstructions) instructions, \(policy.loadPeakMemory) bytes peak")
        for example in examples {
            let cost =
                example.decision.map { "\($0.instructions) instructions, \($0.peakMemory) bytes peak" } ?? example.error?.outcome.rawValue
                ?? ""
            print("\(example.passed ? "  ok  " : "  FAIL") \(example.name)  (\(cost))")
            if let decision = example.decision { print("        chose [\(decision.chosen.joined(separator: ", "))]") }
            for failure in example.failures { print("        \(failure)") }
            for warning in warnings(example) { print("        warning: \(warning)") }
        }
    }

    /// Costs above half the budget: a decision near the cap today is over it when the cluster grows.
    func warnings(_ example: ExampleResult) -> [String] {
        guard let policy, let decision = example.decision else { return [] }
        var warnings: [String] = []
        if decision.instructions * 2 > policy.budget.instructions {
            warnings.append(
                "used \(decision.instructions) of \(policy.budget.instructions) instructions: keep decisions well below the budget")
        }
        if decision.peakMemory * 2 > policy.budget.memory {
            warnings.append(
                "peaked at \(decision.peakMemory) of \(policy.budget.memory) bytes: keep decisions well below the memory budget")
        }
        return warnings
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["file": JSONValue(path), "ok": JSONValue(passed)]
        if let readError { object["error"] = JSONValue(readError) }
        if let loadError {
            object["load"] = [
                "outcome": JSONValue(loadError.outcome.rawValue), "message": JSONValue(loadError.message),
                "instructions": JSONValue(loadError.instructions), "peak_memory": JSONValue(loadError.peakMemory),
            ]
        }
        if let policy {
            object["load"] = [
                "outcome": "ok", "instructions": JSONValue(policy.loadInstructions), "peak_memory": JSONValue(policy.loadPeakMemory),
            ]
            object["policy"] = [
                "name": JSONValue(policy.name), "version": JSONValue(policy.version), "api": JSONValue(policy.apiLevel),
                "source_hash": JSONValue(policy.sourceHash.hex), "description": JSONValue(policy.description),
                "params": JSONValue(
                    Dictionary(policy.parameters.map { ($0.name, $0.value.description) }, uniquingKeysWith: { first, _ in first })),
                "budget": ["instructions": JSONValue(policy.budget.instructions), "memory": JSONValue(policy.budget.memory)],
                "hooks": [
                    "filter": JSONValue(policy.hasFilter), "score": true, "admit": JSONValue(policy.hasAdmit),
                    "select": JSONValue(policy.hasSelect),
                ],
            ]
        }
        object["examples"] = .array(
            examples.map { example in
                var entry: [String: JSONValue] = [
                    "name": JSONValue(example.name), "passed": JSONValue(example.passed), "failures": JSONValue(example.failures),
                ]
                if let decision = example.decision {
                    entry["outcome"] = "ok"
                    entry["chosen"] = JSONValue(decision.chosen)
                    entry["instructions"] = JSONValue(decision.instructions)
                    entry["peak_memory"] = JSONValue(decision.peakMemory)
                    entry["digest"] = JSONValue(decision.digest.hex)
                    entry["warnings"] = JSONValue(warnings(example))
                } else if let error = example.error {
                    entry["outcome"] = JSONValue(error.outcome.rawValue)
                    entry["message"] = JSONValue(error.message)
                }
                return .object(entry)
            })
        return .object(object)
    }
}

/// Prints `value` as one line of JSON with sorted keys (the `--json` output of every command).
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // The values printed are plain (finite numbers, strings); print nothing rather than trap.
    guard let data = try? encoder.encode(value) else { return }
    print(String(decoding: data, as: UTF8.self))
}

/// `policy check FILE`.
struct PolicyCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Compile a policy, validate its declaration and run its bundled examples.",
        discussion: """
            Compiles FILE in text mode, runs its top level in the sandbox, validates the declaration (name,
            version, api, params, budget, hooks) and runs every bundled example, printing the instructions
            used and the peak memory of each. Exits non-zero on any failure, with one line saying why.

            Examples:
              dsdn-coordinator policy check policies/zone-spread.lua
              dsdn-coordinator policy check --json my-policy.lua
            """
    )

    @Argument(help: "The policy file (Lua text).")
    var file: String

    @Flag(help: "Print a JSON report instead of the human one.")
    var json = false

    func run() throws {
        let report = PolicyReport(path: file)
        if json {
            printJSON(report.json)
        } else if report.policy != nil {
            report.printHuman()
        }
        if let failure = report.failureLine { throw CommandFailure(failure) }
    }
}

/// `policy test [DIR]`.
struct PolicyTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Check every policy in a directory (default: policies/) and run all their examples.",
        discussion: """
            Example:
              dsdn-coordinator policy test
              dsdn-coordinator policy test --json policies
            """
    )

    @Argument(help: "The directory of *.lua policies.")
    var directory: String = "policies"

    @Flag(help: "Print a JSON array of reports.")
    var json = false

    func run() throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".lua") }.sorted()
        } catch {
            throw CommandFailure("cannot list \(directory): no such directory or not readable")
        }
        guard !names.isEmpty else { throw CommandFailure("\(directory) holds no .lua policies") }
        let reports = names.map { PolicyReport(path: (directory as NSString).appendingPathComponent($0)) }
        if json {
            printJSON(reports.map(\.json))
        } else {
            for report in reports {
                let examples = report.examples.count
                let passed = report.examples.count(where: \.passed)
                let label = report.policy?.label ?? "-"
                print("\(report.passed ? "ok  " : "FAIL")  \(report.path)  \(label)  \(passed)/\(examples) examples")
                if let failure = report.failureLine { print("      \(failure)") }
            }
        }
        let failed = reports.filter { !$0.passed }
        if let first = failed.first?.failureLine {
            throw CommandFailure("\(failed.count) of \(reports.count) policies failed; first: \(first)")
        }
    }
}

/// `policy probe FILE…`: one load and one decision on a fixed four-node cluster, with costs.
struct PolicyProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Run each policy once on a fixed four-node cluster and report outcome and costs.",
        discussion: """
            Loads each FILE and, when that works, makes one decision for a 1 KiB chunk with three replicas
            on nodes a, b, c, d (zones z1, z2, z1, z2). The top level runs under the default budget and the
            decision under the policy's own; --instructions and --memory, when given, apply to both. Reports the classified outcome, instructions used and peak memory of both
            steps, even when the policy fails. Exits non-zero if any probe did not end in ok.

            Examples:
              dsdn-coordinator policy probe my-policy.lua
              dsdn-coordinator policy probe --json suspicious/*.lua
            """
    )

    @Argument(help: "Policy files.")
    var files: [String]

    @Option(help: "Instruction budget of each load and decision (default: the policy's own).")
    var instructions: UInt64?

    @Option(help: "Memory budget of each load and decision, in bytes (default: the policy's own).")
    var memory: UInt64?

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() throws {
        var reports: [(String, ProbeReport)] = []
        for file in files {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw CommandFailure("cannot read \(file): no such file or not readable")
            }
            let source: String
            do {
                source = try readPolicySource(file)
            } catch {
                // Bytecode or bytes that are not UTF-8 cannot be compiled: a per-file syntax error.
                let message = "\(error)".replacingOccurrences(of: "syntax_error: ", with: "")
                reports.append(
                    (
                        file,
                        ProbeReport(
                            load: .syntaxError, loadInstructions: 0, loadPeakMemory: 0, decide: nil, decideInstructions: 0,
                            decidePeakMemory: 0, chosen: [], message: message)
                    ))
                continue
            }
            let override =
                (instructions != nil || memory != nil)
                ? SandboxBudget(
                    instructions: instructions ?? SandboxBudget.default.instructions, memory: memory ?? SandboxBudget.default.memory)
                : nil
            let report = PolicyProbe.run(
                source: source, fileName: file, loadBudget: override ?? .default, decideBudget: override)
            reports.append((file, report))
        }
        if json {
            printJSON(
                reports.map { file, report -> [String: JSONValue] in
                    var object: [String: JSONValue] = [
                        "file": JSONValue(file), "outcome": JSONValue(report.outcome.rawValue), "load": JSONValue(report.load.rawValue),
                        "load_instructions": JSONValue(report.loadInstructions), "load_peak_memory": JSONValue(report.loadPeakMemory),
                        "decide_instructions": JSONValue(report.decideInstructions),
                        "decide_peak_memory": JSONValue(report.decidePeakMemory), "chosen": JSONValue(report.chosen),
                        "message": JSONValue(report.message),
                    ]
                    if let decide = report.decide { object["decide"] = JSONValue(decide.rawValue) }
                    return object
                })
        } else {
            for (file, report) in reports {
                let decide =
                    report.decide.map {
                        "decide \($0.rawValue) (\(report.decideInstructions) instructions, \(report.decidePeakMemory) bytes)"
                    } ?? "not decided"
                print(
                    "\(report.outcome == .ok ? "ok  " : "FAIL")  \(file)  load \(report.load.rawValue) (\(report.loadInstructions) instructions, \(report.loadPeakMemory) bytes)  \(decide)"
                )
                if !report.message.isEmpty { print("      \(report.message)") }
            }
        }
        let failed = reports.filter { $0.1.outcome != .ok }
        if !failed.isEmpty {
            throw CommandFailure("\(failed.count) of \(reports.count) probes did not end in ok")
        }
    }
}

/// `policy digest FILE`: reproduce a batch of decisions on a generated cluster and print their digest.
struct PolicyDigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Run a batch of decisions on a generated cluster and print one digest over all of them.",
        discussion: """
            The cluster and the chunks are generated from --seed, so two machines (or two coordinator
            versions) that print the same digest made byte-identical decisions. The instructions of all
            decisions and the largest peak memory of one are printed too: they must agree as well (an API
            level 2 policy makes every decision in one warm state, so they show that no decision's costs
            depend on the ones before it).

            Example:
              dsdn-coordinator policy digest policies/rendezvous.lua --nodes 1000 --decisions 1000
            """
    )

    @Argument(help: "The policy file.")
    var file: String

    @Option(help: "Nodes in the generated cluster.")
    var nodes: Int = 1_000

    @Option(help: "Placement decisions to make.")
    var decisions: Int = 1_000

    @Option(help: "Seed of the generated cluster and chunks.")
    var seed: UInt64 = 1

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (1...100_000).contains(nodes) else { throw ValidationError("--nodes must be from 1 to 100000, got \(nodes)") }
        guard (1...1_000_000).contains(decisions) else { throw ValidationError("--decisions must be from 1 to 1000000, got \(decisions)") }
    }

    func run() throws {
        let policy = try loadPolicy(file)
        let cluster = GeneratedCluster(seed: seed, nodes: nodes)
        let requests = cluster.requests(count: decisions)
        let results: [Result<PlacementDecision, PolicyError>]
        do {
            results = try Scheduler.place(requests, inputs: cluster.inputs, policy: policy, explain: false)
        } catch {
            throw CommandFailure("\(error.outcome.rawValue): \(error.message)", cause: error)
        }
        var bytes: [UInt8] = []
        var chosen = 0
        var instructions: UInt64 = 0
        var peakMemory: UInt64 = 0
        for (index, result) in results.enumerated() {
            switch result {
            case let .success(decision):
                bytes += decision.digest.bytes
                chosen += decision.chosen.count
                instructions += decision.instructions
                peakMemory = max(peakMemory, decision.peakMemory)
            case let .failure(error):
                throw CommandFailure("decision \(index + 1): \(error.outcome.rawValue): \(error.message)", cause: error)
            }
        }
        let digest = sha256(bytes)
        if json {
            printJSON(
                [
                    "policy": JSONValue(policy.label), "source_hash": JSONValue(policy.sourceHash.hex), "nodes": JSONValue(nodes),
                    "decisions": JSONValue(decisions), "seed": JSONValue(seed), "replicas_chosen": JSONValue(chosen),
                    "digest": JSONValue(digest.hex), "instructions": JSONValue(instructions), "peak_memory": JSONValue(peakMemory),
                ] as [String: JSONValue])
        } else {
            print("policy    \(policy.label)")
            print("cluster   \(nodes) nodes, seed \(seed)")
            print("decisions \(decisions), \(chosen) replicas chosen")
            print("costs     \(instructions) instructions in all, \(peakMemory) bytes peak in one decision")
            print("digest    \(digest.hex)")
        }
    }
}

/// A cluster and chunk stream generated from a seed, for digests and experiments.
struct GeneratedCluster {
    var state: DerivedState
    var inputs: DecisionInputs
    var seed: UInt64

    init(seed: UInt64, nodes: Int) {
        self.seed = seed
        var machine = StateMachine()
        var random = SeededGenerator(seed: seed)
        var events: [Event] = []
        for index in 0..<nodes {
            let id = "node-\(String(repeating: "0", count: max(0, 5 - String(index).count)))\(index)"
            events.append(
                .nodeRegistered(
                    nodeID: id, zone: "zone-\(index % 10)", addr: "10.0.\(index / 256 % 256).\(index % 256):7000",
                    capacityBytes: (UInt64(1) << 40) * (1 + random.below(8))))
            events.append(
                .nodeStatsReported(
                    nodeID: id,
                    stats: NodeStats(
                        cpuFreeMilli: UInt32(random.below(16_000)), ramFreeMB: random.below(256_000),
                        gpuFreeMilli: UInt32(random.below(4) * 1000),
                        latencyMicros: UInt32(100 + random.below(100_000)), ioPressureMilli: UInt32(random.below(1001)),
                        usedBytes: 0, reportedAtMillis: 1)))
            if random.chance(1, in: 20) { events.append(.nodeStatusChanged(nodeID: id, status: .draining)) }
        }
        // Generated events are valid by construction.
        try? machine.apply(events: events)
        state = machine.state
        inputs = DecisionInputs(state: state)
    }

    func requests(count: Int) -> [ChunkRequest] {
        var random = SeededGenerator(seed: seed ^ 0x5EED)
        return (0..<count).map { _ in
            ChunkRequest(
                hash: Hash256(w0: random.next(), w1: random.next(), w2: random.next(), w3: random.next()),
                sizeBytes: 1 + random.below(64 << 20), replicationFactor: 3)
        }
    }
}
