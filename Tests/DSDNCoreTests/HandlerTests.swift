import DSDNCore
import DSDNTestSupport
import Testing

/// The semantics of each event handler (prototype-behaviour.md), and the prototype's defects fixed.
@Suite struct HandlerTests {
    let chunk = Fixtures.hash(0xC1)

    // MARK: Nodes and zones

    @Test func identicalReRegistrationIsANoOp() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let before = machine.state.checksum()
        for _ in 0..<3 { try machine.apply(event: Fixtures.register("n1")) }
        #expect(machine.state.nodeCount == 1)
        #expect(machine.state.checksum() == before)
    }

    @Test func zoneChangeOnRegistrationMovesTheNode() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1", zone: "a"), Fixtures.register("n2", zone: "a")])
        try machine.apply(event: Fixtures.register("n1", zone: "b"))
        #expect(machine.state.nodes(inZone: "a").map(\.id) == ["n2"])
        #expect(machine.state.nodes(inZone: "b").map(\.id) == ["n1"])
        #expect(machine.state.zones().map(\.id) == ["a", "b"])
        #expect(machine.state.zones().flatMap(\.nodeIDs).filter { $0 == "n1" }.count == 1)
    }

    @Test func reRegistrationKeepsStatusAndStats() throws {
        let stats = NodeStats(
            cpuFreeMilli: 1, ramFreeMB: 2, gpuFreeMilli: 3, latencyMicros: 4, ioPressureMilli: 5, usedBytes: 6, reportedAtMillis: 7)
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), .nodeStatsReported(nodeID: "n1", stats: stats), .nodeStatusChanged(nodeID: "n1", status: .draining),
        ])
        try machine.apply(event: Fixtures.register("n1", capacity: 5))
        let node = try #require(machine.state.node("n1"))
        #expect(node.capacityBytes == 5)
        #expect(node.status == .draining)
        #expect(node.stats == stats)
    }

    @Test func unregisteringRemovesFromRegistryAndZones() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1", zone: "a"), Fixtures.register("n2", zone: "a")])
        try machine.apply(event: .nodeUnregistered(nodeID: "n1"))
        #expect(machine.state.node("n1") == nil)
        #expect(machine.state.nodeCount == 1)
        #expect(machine.state.nodes(inZone: "a").map(\.id) == ["n2"])
    }

    @Test func unregisteringAnUnknownNodeIsANoOp() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let before = machine.state.checksum()
        try machine.apply(event: .nodeUnregistered(nodeID: "ghost"))
        #expect(machine.state.checksum() == before)
    }

    @Test func zoneAssignMovesAndUnassignRemoves() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1", zone: "a")])
        try machine.apply(event: .zoneAssigned(zone: "b", nodeID: "n1"))
        try machine.apply(event: .zoneAssigned(zone: "b", nodeID: "n1"))
        #expect(machine.state.nodes(inZone: "b").map(\.id) == ["n1"])
        #expect(machine.state.nodes(inZone: "a").isEmpty)
        // Unassigning from a zone the node is not in changes nothing.
        try machine.apply(event: .zoneUnassigned(zone: "a", nodeID: "n1"))
        #expect(machine.state.node("n1")?.zone == "b")
        try machine.apply(event: .zoneUnassigned(zone: "b", nodeID: "n1"))
        #expect(machine.state.node("n1")?.zone == nil)
        #expect(machine.state.zones().isEmpty)
        // An unknown node in an unassignment is a no-op; in an assignment it is refused.
        try machine.apply(event: .zoneUnassigned(zone: "b", nodeID: "ghost"))
        #expect(throws: ApplyError.self) { try machine.apply(event: .zoneAssigned(zone: "b", nodeID: "ghost")) }
    }

    // MARK: Chunks

    @Test func newChunkStartsWithNoReplicas() throws {
        let machine = try Fixtures.machine([Fixtures.declare(chunk)])
        let info = try #require(machine.state.chunk(chunk))
        #expect(info.replicas.isEmpty)
        #expect(info.liveReplicaCount == 0)
        #expect(info.uploaderID == "alice")
        #expect(info.isUnderReplicated)
    }

    @Test func identicalReDeclarationIsANoOpAndDifferentIsAConflict() throws {
        var machine = try Fixtures.machine([Fixtures.declare(chunk, size: 10)])
        try machine.apply(event: Fixtures.declare(chunk, size: 10))
        #expect(machine.state.chunkCount == 1)
        let error = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.declare(chunk, size: 11)) }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("conflict") == true)
        #expect(machine.state.chunk(chunk)?.sizeBytes == 10)
    }

    @Test func removingAChunkRemovesItsReplicasAndUnknownIsANoOp() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.declare(chunk, size: 100), Fixtures.replica(chunk, on: "n1", index: 0),
        ])
        #expect(machine.state.node("n1")?.storedBytes == 100)
        try machine.apply(event: .chunkRemoved(hash: chunk))
        #expect(machine.state.chunk(chunk) == nil)
        #expect(machine.state.replicas(of: chunk).isEmpty)
        #expect(machine.state.chunks(onNode: "n1").isEmpty)
        #expect(machine.state.node("n1")?.storedBytes == 0)
        try machine.apply(event: .chunkRemoved(hash: Fixtures.hash(9)))
        #expect(machine.state.chunkCount == 0)
    }

    // MARK: Replicas

    @Test func replicaForUnknownChunkDoesNotExist() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let error = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 0)) }
        #expect(error?.message.contains("does not exist") == true)
        #expect(machine.state.chunkCount == 0)
    }

    @Test func replicaOnUnknownOrDownNodeIsRefused() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.declare(chunk), .nodeStatusChanged(nodeID: "n1", status: .down),
        ])
        let unknown = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "ghost", index: 0)) }
        #expect(unknown?.code == .unknownNode)
        let down = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 0)) }
        #expect(down?.code == .nodeDown)
    }

    @Test func replicaIndexHeldByAnotherNodeIsAlreadyUsed() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.declare(chunk), Fixtures.replica(chunk, on: "n1", index: 0),
        ])
        let error = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "n2", index: 0)) }
        #expect(error?.message.contains("already used") == true)
    }

    @Test func sameNodeAndIndexAgainIsANoOp() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1"), Fixtures.declare(chunk), Fixtures.replica(chunk, on: "n1", index: 0)])
        let before = machine.state.checksum()
        try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 0, at: 99))
        #expect(machine.state.checksum() == before)
        #expect(machine.state.chunk(chunk)?.liveReplicaCount == 1)
    }

    /// Defect fixed: the prototype let one node hold two replica indexes of a chunk.
    @Test func aNodeHoldsAtMostOneReplicaOfAChunk() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1"), Fixtures.declare(chunk), Fixtures.replica(chunk, on: "n1", index: 0)])
        let error = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 1)) }
        #expect(error?.code == .nodeAlreadyHoldsChunk)
        #expect(machine.state.replicas(of: chunk).count == 1)
    }

    @Test func replicaIndexMustBeBelowTheReplicationFactor() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1"), Fixtures.declare(chunk, replicationFactor: 2)])
        let error = #expect(throws: ApplyError.self) { try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 2)) }
        #expect(error?.message.contains("out of range") == true)
    }

    @Test func currentReplicaCountIsTheNumberOfReplicas() throws {
        let machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.declare(chunk),
            Fixtures.replica(chunk, on: "n1", index: 0), Fixtures.replica(chunk, on: "n2", index: 1),
        ])
        #expect(machine.state.chunk(chunk)?.liveReplicaCount == 2)
        #expect(machine.state.replicas(of: chunk).map(\.nodeID) == ["n1", "n2"])
        #expect(machine.state.chunks(onNode: "n2") == [chunk])
    }

    @Test func replicaRemovedRemovesAndUnknownIsANoOp() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1"), Fixtures.declare(chunk), Fixtures.replica(chunk, on: "n1", index: 0)])
        try machine.apply(event: .replicaRemoved(hash: chunk, nodeID: "n1"))
        #expect(machine.state.replicas(of: chunk).isEmpty)
        let before = machine.state.checksum()
        try machine.apply(event: .replicaRemoved(hash: chunk, nodeID: "n1"))
        try machine.apply(event: .replicaRemoved(hash: Fixtures.hash(7), nodeID: "n1"))
        #expect(machine.state.checksum() == before)
    }

    /// Defect fixed: unregistering a node left its replicas in place.
    @Test func unregisteringMarksReplicasLostAndUnderReplicated() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.declare(chunk, replicationFactor: 2),
            Fixtures.replica(chunk, on: "n1", index: 0), Fixtures.replica(chunk, on: "n2", index: 1),
        ])
        #expect(machine.state.underReplicatedChunks().isEmpty)
        try machine.apply(event: .nodeUnregistered(nodeID: "n1"))
        let info = try #require(machine.state.chunk(chunk))
        #expect(info.liveReplicaCount == 1)
        #expect(info.replicas.first { $0.nodeID == "n1" }?.isLost == true)
        #expect(machine.state.underReplicatedChunks() == [chunk])
        #expect(machine.state.chunks(onNode: "n1").isEmpty)
    }

    @Test func markingDownLosesReplicasAndARepairTakesTheFreedIndex() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.register("n3"), Fixtures.declare(chunk, replicationFactor: 2),
            Fixtures.replica(chunk, on: "n1", index: 0), Fixtures.replica(chunk, on: "n2", index: 1),
        ])
        try machine.apply(event: .nodeStatusChanged(nodeID: "n1", status: .down))
        #expect(machine.state.underReplicatedChunks() == [chunk])
        #expect(machine.state.node("n1")?.storedBytes == 0)
        // Coming back does not revive the replica: it must be re-announced or replaced.
        try machine.apply(event: .nodeStatusChanged(nodeID: "n1", status: .active))
        #expect(machine.state.underReplicatedChunks() == [chunk])
        try machine.apply(event: Fixtures.replica(chunk, on: "n3", index: 0))
        let info = try #require(machine.state.chunk(chunk))
        #expect(info.replicas.map(\.nodeID) == ["n3", "n2"])
        #expect(info.replicas.allSatisfy { !$0.isLost })
        #expect(machine.state.underReplicatedChunks().isEmpty)
    }

    @Test func reAnnouncingALostReplicaRevivesIt() throws {
        var machine = try Fixtures.machine([
            Fixtures.register("n1"), Fixtures.declare(chunk, replicationFactor: 1), Fixtures.replica(chunk, on: "n1", index: 0),
            .nodeStatusChanged(nodeID: "n1", status: .down), .nodeStatusChanged(nodeID: "n1", status: .active),
        ])
        try machine.apply(event: Fixtures.replica(chunk, on: "n1", index: 0, at: 5))
        #expect(machine.state.chunk(chunk)?.replicas == [ReplicaInfo(nodeID: "n1", index: 0, addedAtMillis: 5, isLost: false)])
        #expect(machine.state.node("n1")?.liveReplicas == 1)
    }

    @Test func staleStatsReportsAreIgnored() throws {
        func stats(_ at: UInt64, cpu: UInt32) -> NodeStats {
            NodeStats(
                cpuFreeMilli: cpu, ramFreeMB: 0, gpuFreeMilli: 0, latencyMicros: 0, ioPressureMilli: 0, usedBytes: 0, reportedAtMillis: at)
        }
        var machine = try Fixtures.machine([Fixtures.register("n1"), .nodeStatsReported(nodeID: "n1", stats: stats(10, cpu: 1))])
        try machine.apply(event: .nodeStatsReported(nodeID: "n1", stats: stats(5, cpu: 2)))
        #expect(machine.state.node("n1")?.stats?.cpuFreeMilli == 1)
        try machine.apply(event: .nodeStatsReported(nodeID: "n1", stats: stats(11, cpu: 3)))
        #expect(machine.state.node("n1")?.stats?.cpuFreeMilli == 3)
        #expect(throws: ApplyError.self) { try machine.apply(event: .nodeStatsReported(nodeID: "ghost", stats: stats(1, cpu: 1))) }
    }
}
