import DSDNCore
import DSDNScheduler
import Foundation
import LuaSandbox

/// The repair storm: a cluster of `nodes` nodes in 10 zones holding `chunks` chunks with 3 replicas in
/// 3 distinct zones loses one node, then the rest of that node's zone. For each failure: the time from
/// applying it to having decided every lost replica (collecting the under-replicated chunks, encoding
/// the inputs, preparing the policy once for the snapshot, then one decision per chunk).
func repairStorm(nodes: Int, chunks: Int, policies: [String], policyDirectory: String) throws {
    var machine = StateMachine()
    try machine.apply(events: clusterEvents(nodes: nodes))
    // Consecutive node indexes are in consecutive zones: three distinct zones per chunk.
    try declareChunks(chunks, nodes: nodes, seed: 31, stride: 1, commitments: false, into: &machine)
    say("repair      \(nodes) nodes in 10 zones, \(machine.state.chunkCount) chunks x 3 replicas")

    let loaded = try policies.map { name -> Policy in
        let path = "\(policyDirectory)/\(name).lua"
        return try Policy.load(source: String(contentsOfFile: path, encoding: .utf8), fileName: path)
    }
    // One node of zone-0 fails, then the other nodes of zone-0. Nothing decided is applied, so the
    // second storm includes the first node's replicas again.
    let zoneNodes = machine.state.nodes(inZone: "zone-0").map(\.id)
    let failures: [(String, [String])] = [("one node down", [zoneNodes[0]]), ("a zone down", Array(zoneNodes.dropFirst()))]
    for (label, failed) in failures {
        let applyTime = try seconds {
            try machine.apply(events: failed.map { .nodeStatusChanged(nodeID: $0, status: .down) })
        }
        for policy in loaded {
            var requests: [ChunkRequest] = []
            let collectTime = seconds {
                let state = machine.state
                requests = state.underReplicatedChunks().compactMap { ChunkRequest(chunk: $0, in: state) }
            }
            var inputs: DecisionInputs?
            let inputsTime = seconds { inputs = DecisionInputs(state: machine.state) }
            guard let inputs else { continue }
            let (prepareTime, decideTime, decided, failedDecisions) = PolicySandbox.withLargeStack {
                () -> (Double, Double, Int, Int) in
                if policy.apiLevel < 2 {
                    var decided = 0
                    var failures = 0
                    let time = seconds {
                        for request in requests {
                            switch (try? Scheduler.place([request], inputs: inputs, policy: policy, explain: false))?.first {
                            case let .success(decision)?: decided += decision.chosen.count
                            default: failures += 1
                            }
                        }
                    }
                    return (0, time, decided, failures)
                }
                var warm: WarmPlacement?
                let prepare = seconds { warm = WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs) }
                var decided = 0
                var failures = 0
                let time = seconds {
                    for request in requests {
                        switch warm?.decide(request, explain: false) {
                        case let .success(decision)?: decided += decision.chosen.count
                        default: failures += 1
                        }
                    }
                }
                return (prepare, time, decided, failures)
            }
            let wanted = requests.reduce(0) { $0 + $1.want }
            let total = applyTime + collectTime + inputsTime + prepareTime + decideTime
            let key = label == "one node down" ? "node" : "zone"
            benchReport.record(["repair", key, policy.name, "replicas_lost"], Double(wanted))
            benchReport.record(["repair", key, policy.name, "replicas_decided"], Double(decided))
            benchReport.record(["repair", key, policy.name, "seconds"], total)
            benchReport.record(["repair", key, policy.name, "decisions_per_second"], Double(requests.count) / max(decideTime, 1e-9))
            say(
                "  \(label.padding(toLength: 14, withPad: " ", startingAt: 0)) \(policy.label.padding(toLength: 17, withPad: " ", startingAt: 0)) "
                    + "\(wanted) replicas lost in \(requests.count) chunks, \(decided) decided, \(failedDecisions) failed, in "
                    + String(
                        format: "%.2f s (apply %.2f, collect %.2f, inputs %.2f, prepare %.2f, decisions %.2f s = %.0f chunks/s)", total,
                        applyTime, collectTime, inputsTime, prepareTime, decideTime,
                        Double(requests.count) / max(decideTime, 1e-9)))
        }
    }
    say("  target: a zone's replicas (about 300,000 at 1,000,000 chunks) decided in under 60 s")
}

/// A cluster of `count` active nodes in 10 zones with seeded stats and capacities (the placement and
/// repair scenarios' clusters).
func clusterEvents(nodes count: Int) -> [Event] {
    var random = SeededGenerator(seed: 77)
    var events: [Event] = []
    for index in 0..<count {
        let id = "node-\(index)"
        events.append(
            .nodeRegistered(
                nodeID: id, zone: "zone-\(index % 10)", addr: "10.\(index / 65_536).\(index / 256 % 256).\(index % 256):7000",
                capacityBytes: (1 + random.next() % 8) << 40))
        events.append(
            .nodeStatsReported(
                nodeID: id,
                stats: NodeStats(
                    cpuFreeMilli: UInt32(random.next() % 8_000), ramFreeMB: random.next() % 64_000,
                    gpuFreeMilli: UInt32(random.next() % 2_000), latencyMicros: UInt32(500 + random.next() % 50_000),
                    ioPressureMilli: UInt32(random.next() % 1_000), usedBytes: 0, reportedAtMillis: 1)))
    }
    return events
}

/// Declares `count` seeded chunks of 1 MiB, each with 3 replicas on nodes `first`, `first + stride` and
/// `first + 2 × stride` (of `node-0` to `node-<nodes - 1>`), applied in batches.
func declareChunks(_ count: Int, nodes: Int, seed: UInt64, stride: Int, commitments: Bool, into machine: inout StateMachine) throws {
    var random = SeededGenerator(seed: seed)
    var batch: [Event] = []
    batch.reserveCapacity(8_000)
    for _ in 0..<count {
        let hash = Hash256(w0: random.next(), w1: random.next(), w2: random.next(), w3: random.next())
        batch.append(
            .chunkDeclared(
                hash: hash, sizeBytes: 1 << 20, replicationFactor: 3, uploaderID: "uploader", daCommitment: commitments ? hash : nil))
        let first = Int(random.below(UInt64(nodes)))
        for index in 0..<3 {
            batch.append(
                .replicaAdded(
                    hash: hash, nodeID: "node-\((first + index * stride) % nodes)", replicaIndex: UInt8(index), addedAtMillis: 1,
                    provenance: nil))
        }
        if batch.count >= 8_000 {
            try machine.apply(events: batch)
            batch.removeAll(keepingCapacity: true)
        }
    }
    try machine.apply(events: batch)
}
