import ArgumentParser
import DSDNCore
import DSDNJSON
import DSDNScheduler
import Foundation

/// `dsdn-coordinator place`: a dry-run placement with an explanation.
struct PlaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Dry-run a placement for a chunk against the state of an events file.",
        discussion: """
            Derives the state from EVENTS (JSON Lines), then asks the policy where the chunk's missing
            replicas should go. Nothing is published. For a declared chunk the holders and the replicas to
            repair come from the state; for an undeclared one give --size and --replicas.

            Examples:
              dsdn-coordinator place --policy policies/zone-spread.lua --events examples/small-cluster.jsonl \\
                  --chunk <64-hex> --explain
              dsdn-coordinator place --policy policies/weighted-score.lua --events h.jsonl --chunk <hex> \\
                  --param min_ram_mb=512 --json
            """
    )

    @Option(help: "The policy file.")
    var policy: String

    @Option(help: "The events file (JSON Lines) whose state to place against.")
    var events: String

    @Option(help: "The chunk's hash (64 hex characters).")
    var chunk: String

    @Option(help: "Size in bytes, for a chunk that is not declared in the events.")
    var size: UInt64?

    @Option(help: "Replication factor, for a chunk that is not declared in the events.")
    var replicas: Int?

    @Option(name: .customLong("param"), help: "Override a policy parameter: name=value (repeatable).")
    var parameters: [String] = []

    @Flag(help: "Print the per-node table: verdict, reason, score, rank and score terms.")
    var explain = false

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (try? Hash256(hex: chunk)) != nil else { throw ValidationError("--chunk must be 64 hex characters") }
        for parameter in parameters where (try? ParameterValue.override(parsing: parameter)) == nil {
            throw ValidationError("--param expects name=value, got \(parameter.debugDescription)")
        }
        if let replicas, !(1...Int(Limits.maxReplicationFactor)).contains(replicas) {
            throw ValidationError("--replicas must be between 1 and \(Limits.maxReplicationFactor)")
        }
    }

    func run() throws {
        let hash = try Hash256(hex: chunk)
        let loaded = try loadPolicy(policy)
        let state = try HistoryInput(path: events).derive(path: events).state
        let request: ChunkRequest
        if let declared = ChunkRequest(chunk: hash, in: state) {
            request = declared
        } else {
            guard let size, let replicas else {
                throw CommandFailure("chunk \(hash) is not declared in \(events): give --size and --replicas to place it anyway")
            }
            request = ChunkRequest(hash: hash, sizeBytes: size, replicationFactor: replicas)
        }
        let overrides = try parameters.map { parameter -> (String, ParameterValue) in
            do {
                return try ParameterValue.override(parsing: parameter)
            } catch {
                throw ValidationError("--param \(error)")
            }
        }
        let decision: PlacementDecision
        do {
            // The JSON answer lists every node's verdict, so it is explained like --explain.
            decision = try Scheduler.place(
                request, inputs: DecisionInputs(state: state), policy: loaded, overrides: overrides, explain: explain || json)
        } catch {
            throw CommandFailure("\(error.outcome.rawValue): \(error.message)", cause: error)
        }
        if json {
            printJSON(jsonObject(decision, request: request))
            return
        }
        print("policy    \(loaded.label)  sha256 \(loaded.sourceHash.hex)")
        print("chunk     \(hash)  \(formatBytes(request.sizeBytes)), \(request.replicationFactor) replicas, \(request.holders.count) live")
        print("want      \(request.want)")
        print("chosen    \(decision.chosen.isEmpty ? "(none)" : decision.chosen.joined(separator: ", "))")
        print("inputs    \(decision.inputDigest.hex)")
        print("digest    \(decision.digest.hex)")
        print("cost      \(decision.instructions) instructions, \(decision.peakMemory) bytes peak")
        guard explain else { return }
        print("")
        let header = ["node", "verdict", "rank", "score", "reason / terms"]
        var rows: [[String]] = [header]
        for verdict in decision.verdicts {
            let terms = verdict.terms.map { "\($0.name)=\(format($0.value))" }.joined(separator: " ")
            rows.append([
                verdict.nodeID, verdict.passed ? (decision.chosen.contains(verdict.nodeID) ? "chosen" : "candidate") : "excluded",
                verdict.rank.map(String.init) ?? "-", verdict.score.map(format) ?? "-", verdict.passed ? terms : (verdict.reason ?? ""),
            ])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(
                row.enumerated().map { $1.padding(toLength: $0 == row.count - 1 ? $1.count : widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  "))
        }
    }

    private func format(_ value: Double) -> String {
        let text = String(format: "%.6g", value)
        return text == "-0" ? "0" : text
    }

    private func jsonObject(_ decision: PlacementDecision, request: ChunkRequest) -> JSONValue {
        [
            "policy": [
                "name": JSONValue(decision.policyName), "version": JSONValue(decision.policyVersion),
                "source_hash": JSONValue(decision.policySourceHash.hex),
            ],
            "chunk": [
                "hash": JSONValue(request.hash.hex), "size": JSONValue(request.sizeBytes), "replicas": JSONValue(request.replicationFactor),
                "holders": JSONValue(request.holders),
            ],
            "want": JSONValue(decision.want), "chosen": JSONValue(decision.chosen), "input_digest": JSONValue(decision.inputDigest.hex),
            "digest": JSONValue(decision.digest.hex), "seed": JSONValue(decision.seed), "instructions": JSONValue(decision.instructions),
            "peak_memory": JSONValue(decision.peakMemory),
            "nodes": .array(
                decision.verdicts.map { verdict in
                    var entry: [String: JSONValue] = ["id": JSONValue(verdict.nodeID), "passed": JSONValue(verdict.passed)]
                    if let reason = verdict.reason { entry["reason"] = JSONValue(reason) }
                    if let score = verdict.score { entry["score"] = JSONValue(score) }
                    if let rank = verdict.rank { entry["rank"] = JSONValue(rank) }
                    if !verdict.terms.isEmpty {
                        entry["terms"] = JSONValue(
                            Dictionary(verdict.terms.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first }))
                    }
                    return .object(entry)
                }),
        ]
    }
}
