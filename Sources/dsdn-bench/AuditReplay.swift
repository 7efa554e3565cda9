import DSDNCore
import DSDNScheduler
import Foundation

/// The audit scenario: a history with a published, activated policy in which every chunk was placed by
/// it (decisions made in batches against the snapshot before their blob, as the scheduling loop does),
/// then `PlacementAudit`'s two passes over it. Baseline: replaying the same blobs without auditing.
func auditReplay(events target: Int, nodes nodeCount: Int, policyDirectory: String) throws {
    let source = try String(contentsOfFile: policyDirectory + "/weighted-score.lua", encoding: .utf8)
    let policy = try Policy.load(source: source, fileName: "weighted-score.lua")
    let engine = "dsdn-bench; \(Scheduler.luaRelease)"
    var machine = StateMachine()
    var blobs: [[UInt8]] = []
    var sequence: UInt64 = 0
    var eventCount = 0
    func publish(_ events: [Event]) throws {
        sequence += 1
        let blob = try BlobCodec.encode(BlobEnvelope(publisherID: "bench", sequence: sequence, events: events))
        let outcome = machine.apply(blob: blob, at: BlobPosition(height: UInt64(blobs.count + 1), index: 0))
        guard case .applied = outcome else { throw BenchFailure("audit history: blob \(blobs.count + 1) was not applied: \(outcome)") }
        blobs.append(blob)
        eventCount += events.count
    }
    var random = SeededGenerator(seed: 17)
    try publish(
        (0..<nodeCount).map { index in
            .nodeRegistered(
                nodeID: "node-\(index)", zone: "zone-\(index % 10)", addr: "10.0.\(index / 256).\(index % 256):7000",
                capacityBytes: UInt64(1 + index % 7) << 40)
        } + [
            .policyPublished(policy.release), .policyActivated(name: policy.name, version: policy.version, role: .placement),
        ])
    let generation = seconds {
        var chunk: UInt64 = 0
        while eventCount < target {
            // 50 chunks declared, then placed from the snapshot that includes them.
            let declared = (0..<50).map { _ -> Hash256 in
                chunk += 1
                return Hash256(w0: random.next(), w1: chunk, w2: 0, w3: 0)
            }
            try? publish(
                declared.map { .chunkDeclared(hash: $0, sizeBytes: 1 << 20, replicationFactor: 3, uploaderID: "bench", daCommitment: nil) })
            let state = machine.state
            let snapshot = UInt64(blobs.count)
            guard let active = state.placementPolicy, let info = state.policyVersion(active.name, active.version) else { return }
            let requests = declared.compactMap { ChunkRequest(chunk: $0, in: state) }
            let inputs = DecisionInputs(nodes: state.allNodes(), zones: state.zones())
            guard let results = try? Scheduler.place(requests, inputs: inputs, policy: policy, explain: false) else { return }
            var placements: [Event] = []
            for (request, result) in zip(requests, results) {
                guard case let .success(decision) = result else { continue }
                var provenance = decision.provenance
                provenance.context = PlacementContext(parametersDigest: info.parametersDigest, snapshotHeight: snapshot, engine: engine)
                for (index, node) in decision.chosen.enumerated() {
                    placements.append(
                        .replicaAdded(
                            hash: request.hash, nodeID: node, replicaIndex: UInt8(index), addedAtMillis: 1, provenance: provenance))
                }
            }
            try? publish(placements)
        }
    }
    precondition(eventCount >= target, "the audit history was cut short")

    let replayTime = seconds {
        var replay = StateMachine()
        for (offset, blob) in blobs.enumerated() { replay.apply(blob: blob, at: BlobPosition(height: UInt64(offset + 1), index: 0)) }
    }
    var audit = PlacementAudit(engine: engine)
    let library = PolicyLibrary()
    let before = residentBytes()
    let collectTime = seconds {
        // The first pass's state is released when it ends: what stays is the decisions it collected.
        var first = StateMachine()
        for (offset, blob) in blobs.enumerated() {
            let position = BlobPosition(height: UInt64(offset + 1), index: 0)
            if case .applied = first.apply(blob: blob, at: position), let envelope = try? BlobCodec.decode(blob) {
                audit.collect(envelope.events, at: position)
            }
        }
    }
    let held = Double(max(0, residentBytes() - before))
    let pending = audit.pendingCount
    let checkTime = seconds {
        var second = StateMachine()
        for (offset, blob) in blobs.enumerated() {
            second.apply(blob: blob, at: BlobPosition(height: UInt64(offset + 1), index: 0))
            audit.check(height: UInt64(offset + 1), state: second.state, library: library)
        }
        audit.finish()
    }
    let auditTime = collectTime + checkTime
    let report = audit.report
    precondition(report.mismatchCount == 0 && report.matching == report.decisionsChecked, "the generated history must audit clean")
    say(
        "audit       \(eventCount) events in \(blobs.count) blobs on \(nodeCount) nodes, \(report.decisionsChecked) decisions (generated in \(String(format: "%.1f", generation)) s)"
    )
    say("  replay only          \(String(format: "%.2f", replayTime)) s   (baseline)")
    say(
        "  audit (two passes)   \(String(format: "%.2f", auditTime)) s   ratio to baseline \(String(format: "%.1f", auditTime / replayTime)), \(Int(Double(report.decisionsChecked) / auditTime)) decisions/s, \(Int(Double(eventCount) / auditTime)) events/s"
    )
    say(
        "  between the passes   \(pending) decisions held, \(String(format: "%.0f", held / Double(max(1, pending)))) bytes each (resident growth); collect \(String(format: "%.2f", collectTime)) s, re-execute \(String(format: "%.2f", checkTime)) s"
    )
    benchReport.record(["audit", "events"], Double(eventCount))
    benchReport.record(["audit", "decisions"], Double(report.decisionsChecked))
    benchReport.record(["audit", "seconds"], auditTime)
    benchReport.record(["audit", "baseline_replay_seconds"], replayTime)
}
