import DSDNCore
import DSDNTestSupport
import Testing

/// Placements (ReplicaAdded with provenance) are first-wins: a losing placement is a counted no-op and
/// never rejects the rest of its blob; announcements without provenance keep the strict checks.
@Suite struct FirstWinsPlacementTests {
    let chunk = Fixtures.hash(0xC1)
    let provenance = PlacementProvenance(
        policyName: "weighted-score", policyVersion: 1, policySourceHash: Fixtures.hash(0xAA),
        inputDigest: Fixtures.hash(0xBB))

    func placement(_ node: String, index: UInt8) -> Event {
        .replicaAdded(hash: chunk, nodeID: node, replicaIndex: index, addedAtMillis: 5, provenance: provenance)
    }

    func base() throws -> StateMachine {
        try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.register("n3"),
            Fixtures.declare(chunk, replicationFactor: 2),
        ])
    }

    @Test func twoCoordinatorsPlacingTheSameSlotsKeepOnlyTheFirst() throws {
        var machine = try base()
        // Coordinator A's blob lands first, then B's conflicting decision for the same slots.
        let a = try BlobCodec.encode(
            BlobEnvelope(publisherID: "coord-a", sequence: 1, events: [placement("n1", index: 0), placement("n2", index: 1)]))
        let b = try BlobCodec.encode(
            BlobEnvelope(
                publisherID: "coord-b", sequence: 1,
                events: [placement("n3", index: 0), placement("n1", index: 1), Fixtures.register("n4")]))
        #expect(machine.apply(blob: a, at: BlobPosition(height: 1, index: 0)) == .applied(events: 2))
        #expect(machine.apply(blob: b, at: BlobPosition(height: 1, index: 1)) == .applied(events: 3))
        let replicas = try #require(machine.state.chunk(chunk)).replicas
        #expect(replicas.map(\.nodeID).sorted() == ["n1", "n2"])
        #expect(machine.state.cursor.placementsSuperseded == 2)
        // The rest of B's blob still applied.
        #expect(machine.state.node("n4") != nil)
        #expect(machine.state.cursor.blobsRejected == 0)
    }

    @Test func stalePlacementsForGoneChunksNodesOrDownNodesAreNoOps() throws {
        var machine = try base()
        try machine.apply(events: [.nodeStatusChanged(nodeID: "n2", status: .down)])
        let before = machine.state.checksum()
        try machine.apply(events: [
            .replicaAdded(hash: Fixtures.hash(0xEE), nodeID: "n1", replicaIndex: 0, addedAtMillis: 5, provenance: provenance),
            placement("ghost", index: 0),
            placement("n2", index: 0),
        ])
        #expect(machine.state.checksum() == before)
        #expect(machine.state.cursor.placementsSuperseded == 3)
    }

    @Test func outOfRangeIndexIsStillAnErrorForAPlacement() throws {
        var machine = try base()
        #expect(throws: ApplyError.self) { try machine.apply(events: [placement("n1", index: 2)]) }
        #expect(machine.state.cursor.placementsSuperseded == 0)
    }

    @Test func announcementsWithoutProvenanceStayStrict() throws {
        var machine = try base()
        try machine.apply(events: [Fixtures.replica(chunk, on: "n1", index: 0)])
        do {
            try machine.apply(events: [Fixtures.replica(chunk, on: "n2", index: 0)])
            Issue.record("expected replica_index_in_use")
        } catch {
            #expect(error.code == .replicaIndexInUse)
        }
    }

    @Test func supersededCountIsRolledBackWithItsBlob() throws {
        var machine = try base()
        try machine.apply(events: [placement("n1", index: 0)])
        // The second event supersedes, the third fails: the whole batch rolls back, count included.
        #expect(throws: ApplyError.self) {
            try machine.apply(events: [placement("n2", index: 0), Fixtures.replica(Fixtures.hash(0x01), on: "n1", index: 0)])
        }
        #expect(machine.state.cursor.placementsSuperseded == 0)
    }
}

/// The dry run used to pre-flight API submissions.
@Suite struct DryRunTests {
    @Test func dryRunLeavesTheStateUntouchedAndReportsTheFailingEvent() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let before = machine.state.checksum()
        let applied = machine.state.cursor.eventsApplied
        try machine.dryRun([Fixtures.register("n2"), Fixtures.declare(Fixtures.hash(1))])
        #expect(machine.state.checksum() == before)
        #expect(machine.state.cursor.eventsApplied == applied)
        do {
            try machine.dryRun([Fixtures.register("n3"), Fixtures.replica(Fixtures.hash(9), on: "n1", index: 0)])
            Issue.record("expected unknown_chunk")
        } catch {
            #expect(error.code == .unknownChunk)
            #expect(error.eventIndex == 1)
        }
        #expect(machine.state.checksum() == before)
    }

    @Test func pendingBatchesAreSeenAndFailingOnesSkipped() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let chunk = Fixtures.hash(2)
        // A pending declaration makes the replica valid; a failing pending batch is skipped whole.
        try machine.dryRun(
            [Fixtures.replica(chunk, on: "n1", index: 0)],
            after: [[Fixtures.declare(chunk)], [Fixtures.register("n9"), Fixtures.replica(Fixtures.hash(7), on: "n1", index: 0)]])
        #expect(throws: ApplyError.self) {
            try machine.dryRun(
                [Fixtures.replica(chunk, on: "n9", index: 1)],
                after: [[Fixtures.declare(chunk)], [Fixtures.register("n9"), Fixtures.replica(Fixtures.hash(7), on: "n1", index: 0)]])
        }
        #expect(machine.state.chunk(chunk) == nil)
    }
}
