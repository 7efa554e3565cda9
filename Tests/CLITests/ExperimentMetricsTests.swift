import DSDNCore
import DSDNExperiment
import DSDNScheduler
import DSDNTestSupport
import Testing

/// Every figure of an experiment on tiny hand-made histories, against answers worked out by hand
/// (docs/experiments.md §4 defines them).
@Suite struct ExperimentMetricsTests {
    /// Scores a node by its free bytes: the most free first, ties by id.
    static let mostFree = """
        return { name = "most-free", version = 1, api = 1,
          score = function(node, ctx) return node.free end }
        """

    static func policy(_ source: String = mostFree) throws -> ExperimentPolicy {
        let policy = try Policy.load(source: source, fileName: "most-free.lua")
        return ExperimentPolicy(origin: "test", resolved: ResolvedPolicy(defaultsOf: policy))
    }

    static let c1 = Fixtures.hash(0xC1)
    static let c2 = Fixtures.hash(0xC2)

    /// Three nodes (n1, n2 in zone a with 100 bytes, n3 in zone b with 200); c1 (10 bytes, 2 replicas)
    /// and c2 (20 bytes, 1 replica); n1 goes down at height 3 and the recorded history repairs.
    static let history: [[Event]] = [
        [
            .nodeRegistered(nodeID: "n1", zone: "a", addr: "10.0.0.1:7000", capacityBytes: 100),
            .nodeRegistered(nodeID: "n2", zone: "a", addr: "10.0.0.2:7000", capacityBytes: 100),
            .nodeRegistered(nodeID: "n3", zone: "b", addr: "10.0.0.3:7000", capacityBytes: 200),
            .chunkDeclared(hash: c1, sizeBytes: 10, replicationFactor: 2, uploaderID: "u", daCommitment: nil),
        ],
        [
            .replicaAdded(hash: c1, nodeID: "n1", replicaIndex: 0, addedAtMillis: 1, provenance: nil),
            .replicaAdded(hash: c1, nodeID: "n2", replicaIndex: 1, addedAtMillis: 1, provenance: nil),
            .chunkDeclared(hash: c2, sizeBytes: 20, replicationFactor: 1, uploaderID: "u", daCommitment: nil),
        ],
        [
            .replicaAdded(hash: c2, nodeID: "n1", replicaIndex: 0, addedAtMillis: 2, provenance: nil),
            .nodeStatusChanged(nodeID: "n1", status: .down),
        ],
        [
            .replicaAdded(hash: c1, nodeID: "n3", replicaIndex: 0, addedAtMillis: 3, provenance: nil),
            .replicaAdded(hash: c2, nodeID: "n2", replicaIndex: 0, addedAtMillis: 3, provenance: nil),
        ],
    ]

    static func run(_ history: [[Event]], from: UInt64 = 1, whatIfs: [WhatIf] = [], policies: [ExperimentPolicy]? = nil) throws
        -> ExperimentReport
    {
        let experiment = try Experiment(
            policies: policies ?? [policy()], whatIfs: whatIfs, from: from, to: UInt64(history.count), seed: 7, source: "hand-made",
            engine: "test", samples: history.count)
        for (offset, events) in history.enumerated() { try experiment.feed(height: UInt64(offset + 1), events: events) }
        return try experiment.finish().report
    }

    @Test func recordedFigures() throws {
        let report = try Self.run(Self.history)
        let recorded = try #require(report.arms.first)
        #expect(recorded.kind == "recorded")
        // End: n1 down (not counted); n2 holds c1 and c2 (30 of 100), n3 holds c1 (10 of 200).
        #expect(recorded.fill.nodes == 2)
        #expect(recorded.fill.storedBytes == 40)
        #expect(abs(recorded.fill.meanUtilization - 0.175) < 1e-12)
        #expect(abs(recorded.fill.maxUtilization - 0.3) < 1e-12)
        #expect(abs(recorded.fill.maxOverMean - 0.3 / 0.175) < 1e-12)
        #expect(abs(recorded.fill.fillStddev - 0.125) < 1e-12)
        // Decisions: c1 at 2 (two replicas), c2 at 3, then the repairs of c1 and c2 at 4.
        #expect(
            recorded.decisions
                == DecisionFigures(
                    decisions: 4, replicasPlaced: 5, bytesPlaced: 70, unplaceable: 0, failed: 0, repairs: 2, repairBytes: 30))
        #expect(recorded.underReplicated == 0)
        // Active zones a (n2) and b (n3): c1 on n2 and n3 spans both; c2 has one replica.
        #expect(recorded.zoneSpreadViolations == 0)
        #expect(recorded.utilizationHistogram[1] == 1)  // n3 at 5 %
        #expect(recorded.utilizationHistogram[6] == 1)  // n2 at 30 %
        #expect(recorded.utilizationHistogram.reduce(0, +) == 2)
        #expect(report.history.recordedPlacements == 5)
        #expect(report.history.events == 11)
    }

    @Test func policyFigures() throws {
        let report = try Self.run(Self.history)
        let arm = try #require(report.arms.first { $0.kind == "policy" })
        #expect(arm.label == "most-free@1")
        // Height 1: c1 on n3 (200 free) and n1 (100, before n2 by id). Height 2: c2 on n3 (190 free).
        // Height 3: n1 goes down, c1 is repaired on n2 (n3 holds it): 10 bytes.
        #expect(
            arm.decisions
                == DecisionFigures(
                    decisions: 3, replicasPlaced: 4, bytesPlaced: 50, unplaceable: 0, failed: 0, repairs: 1, repairBytes: 10))
        // End: n2 10 of 100, n3 30 of 200.
        #expect(arm.fill.storedBytes == 40)
        #expect(abs(arm.fill.meanUtilization - 0.125) < 1e-12)
        #expect(abs(arm.fill.maxUtilization - 0.15) < 1e-12)
        #expect(abs(arm.fill.maxOverMean - 1.2) < 1e-12)
        #expect(abs(arm.fill.fillStddev - 0.025) < 1e-12)
        #expect(arm.zoneSpreadViolations == 0)
        #expect(arm.underReplicated == 0)
        // c1 is on n2 and n3 in both; c2 is on n3 here, on n2 as recorded.
        #expect(arm.differsFromRecorded == 1)
        #expect(arm.instructions > 0)
        #expect(arm.peakMemoryBytes > 0)
        let random = try #require(report.arms.first { $0.kind == "random" })
        #expect(random.decisions.decisions >= 2)
        if random.fill.fillStddev > 0 {
            #expect(arm.fillStddevVsRandom == arm.fill.fillStddev / random.fill.fillStddev)
        } else {
            #expect(arm.fillStddevVsRandom == nil)
        }
        // The samples: one per height, the last equal to the end.
        #expect(arm.samples.map(\.height) == [1, 2, 3, 4])
        #expect(arm.samples.last?.fill == arm.fill)
        #expect(arm.samples.map(\.repairBytes) == [0, 0, 10, 10])
        // Against the recorded holders at each height: c1 only (nothing recorded yet); c1 and c2; c1
        // (the recorded repair lands at 4) and c2 (lost with n1); c2 alone at the end.
        #expect(arm.samples.map(\.differsFromRecorded) == [1, 2, 2, 1])
        #expect(arm.samples.map(\.unplaceable) == [0, 0, 0, 0])
        #expect(arm.samples.map(\.zoneSpreadViolations) == [0, 0, 0, 0])
    }

    @Test func zoneSpreadViolationsAndUnplaceable() throws {
        // Everything in zone a but one node of zone b: c3 (2 replicas) placed by most-free goes to the two
        // biggest nodes of zone a, a violation; c4 wants 3 replicas where only 2 nodes have room.
        let c3 = Fixtures.hash(0xC3)
        let c4 = Fixtures.hash(0xC4)
        let history: [[Event]] = [
            [
                .nodeRegistered(nodeID: "a1", zone: "a", addr: "10.0.0.1:7000", capacityBytes: 500),
                .nodeRegistered(nodeID: "a2", zone: "a", addr: "10.0.0.2:7000", capacityBytes: 400),
                .nodeRegistered(nodeID: "b1", zone: "b", addr: "10.0.0.3:7000", capacityBytes: 100),
                .chunkDeclared(hash: c3, sizeBytes: 50, replicationFactor: 2, uploaderID: "u", daCommitment: nil),
            ],
            [.nodeStatusChanged(nodeID: "b1", status: .draining)],
            [.chunkDeclared(hash: c4, sizeBytes: 10, replicationFactor: 3, uploaderID: "u", daCommitment: nil)],
        ]
        let report = try Self.run(history)
        let arm = try #require(report.arms.first { $0.kind == "policy" })
        // c3 went to a1 and a2 (zone a) while b1 was active; at the end b1 drains, so zone a is the only
        // zone with an active node and nothing is counted. c4 got a1 and a2 of the 3 it wanted.
        #expect(arm.decisions.unplaceable == 1)
        #expect(arm.underReplicated == 1)
        #expect(arm.zoneSpreadViolations == 0)
        // The same history with b1 staying active: c3 on a1 and a2 violates (2 zones were possible).
        let active = try Self.run([history[0], [], history[2]])
        let activeArm = try #require(active.arms.first { $0.kind == "policy" })
        // c3 → a1, a2 (violation); c4 → a1, a2, b1 (both zones).
        #expect(activeArm.zoneSpreadViolations == 1)
        #expect(activeArm.decisions.unplaceable == 0)
    }

    @Test func whatIfFailureAndAddedNodes() throws {
        // n3 fails after height 2 in every deciding arm: c1 and c2 lose their replicas there and are
        // repaired on the nodes left.
        let failed = try Self.run(Self.history, whatIfs: [.fail("n3", height: 2)])
        let arm = try #require(failed.arms.first { $0.kind == "policy" })
        #expect(failed.whatIf == ["fail n3@2"])
        // Height 1: c1 → n3, n1. Height 2: n3 fails; c1 is repaired on n2, c2 → n2 (100 free against
        // n1's 90). Height 3: n1 goes down; c1 (on n2) has no other active node: a repair decision that
        // places nothing (short), not retried.
        #expect(arm.decisions.repairs == 2)
        #expect(arm.decisions.repairBytes == 10)
        #expect(arm.decisions.unplaceable == 1)
        #expect(arm.underReplicated == 1)
        #expect(arm.fill.nodes == 1)  // only n2 is still up
        let recorded = try #require(failed.arms.first)
        #expect(recorded.fill.nodes == 2)  // the recorded arm has no edits

        let added = try Self.run(Self.history, whatIfs: [.addNodes(2, height: 1)])
        let grown = try #require(added.arms.first { $0.kind == "policy" })
        #expect(grown.fill.nodes == 4)  // n2, n3 and the two added nodes
        #expect(throws: ExperimentError.self) { try Self.run(Self.history, whatIfs: [.fail("nobody", height: 2)]) }
        #expect(throws: ExperimentError.self) { try Self.run(Self.history, whatIfs: [.fail("n1", height: 9)]) }
    }

    @Test func disagreementsAreExplained() throws {
        // Least-free against most-free: they disagree on c1 at height 1, with both verdicts.
        let leastFree = """
            return { name = "least-free", version = 1, api = 1,
              score = function(node, ctx) return -node.free end }
            """
        let report = try Self.run(Self.history, policies: [Self.policy(), Self.policy(leastFree)])
        let pair = try #require(report.pairs.first)
        #expect(pair.a == "most-free@1" && pair.b == "least-free@1")
        // Height 1: c1 (n3, n1 against n1, n2). Height 2: c2 (n3 against n1). Height 3: both repair c1,
        // but from other holders (n3 against n2): not the same request, not compared.
        #expect(pair.decisionsCompared == 2)
        #expect(pair.disagreements == 2)
        // At the end c1 is on n2 and n3 in both; c2 on n3 against n2 (least-free's repair at 3).
        #expect(pair.chunksPlacedDifferently == 1)
        let first = try #require(report.disagreements.first)
        #expect(first.height == 1)
        #expect(first.aChose == ["n3", "n1"])
        #expect(first.bChose == ["n1", "n2"])
        #expect(first.aExplanation.map(\.node) == ["n3", "n1", "n2"])
        #expect(first.aExplanation.map(\.verdict) == ["chosen", "chosen", "candidate"])
        #expect(first.bExplanation.map(\.verdict) == ["candidate", "chosen", "chosen"])
        #expect(first.aExplanation[0].score == 200)
    }

    @Test func failingDecisionsAreCountedAndBlocked() throws {
        // Every decision fails. Height 1: c1. Height 2: c2 (c1 stays blocked: a declaration changes no
        // node). Height 3: n1 goes down, which unblocks both: c1 and c2 fail again. Height 4: nothing.
        let failing = """
            return { name = "failing", version = 1, api = 1,
              score = function(node, ctx) error("no score today") end }
            """
        let report = try Self.run(Self.history, policies: [Self.policy(failing)])
        let arm = try #require(report.arms.first { $0.kind == "policy" })
        #expect(arm.decisions.decisions == 4)
        #expect(arm.decisions.failed == 4)
        #expect(arm.decisions.replicasPlaced == 0)
        #expect(arm.decisions.repairs == 0)  // nothing was ever placed, so nothing was lost
        #expect(arm.underReplicated == 2)
        #expect(arm.lastFailure?.contains("no score today") == true, "\(String(describing: arm.lastFailure))")
    }

    @Test func fromForksTheRecordedState() throws {
        // From height 3 on: heights 1 and 2 replay as recorded (c1 on n1, n2; c2 declared).
        let report = try Self.run(Self.history, from: 3)
        let arm = try #require(report.arms.first { $0.kind == "policy" })
        // Height 3: n1 goes down; c1 (n2 holds) → n3; c2 (never placed as recorded before 3, and its
        // recorded placement at 3 is not replayed) → n3 (most free).
        #expect(arm.decisions.decisions == 2)
        #expect(arm.decisions.repairs == 1)
        #expect(report.history.recordedPlacements == 3)
        #expect(throws: ExperimentError.self) {
            _ = try Experiment(policies: [], whatIfs: [], from: 5, to: 4, seed: 1, source: "x", engine: "test")
        }
    }
}
