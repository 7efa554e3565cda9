import DSDNCore
import DSDNSimulation
import DSDNTestSupport
import Testing

/// The integration properties the prototype asserted, ported.
@Suite struct PropertyTests {
    @Test func fullPipeline() throws {
        let chunk = Fixtures.hash(1)
        let machine = try Fixtures.machine([
            Fixtures.register("n1", zone: "z1"), Fixtures.register("n2", zone: "z2"), Fixtures.declare(chunk, replicationFactor: 3),
            Fixtures.replica(chunk, on: "n1", index: 0), Fixtures.replica(chunk, on: "n2", index: 1),
        ])
        let summary = machine.state.summary()
        #expect(summary.nodes == 2)
        #expect(summary.chunks == 1)
        #expect(summary.zones == 2)
        #expect(machine.state.chunk(chunk)?.liveReplicaCount == 2)
    }

    @Test func aReplicaBeforeItsChunkFailsAndLeavesNoTrace() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1")])
        let before = machine.state.checksum()
        #expect(throws: ApplyError.self) {
            try machine.apply(events: [Fixtures.replica(Fixtures.hash(1), on: "n1", index: 0), Fixtures.declare(Fixtures.hash(1))])
        }
        #expect(machine.state.checksum() == before)
        #expect(machine.state.chunkCount == 0)
    }

    @Test func aBatchWithOneBadEventChangesNothing() throws {
        var machine = try Fixtures.machine([Fixtures.register("n1"), Fixtures.declare(Fixtures.hash(1))])
        let before = machine.state.checksum()
        let nodesBefore = machine.state.allNodes()
        let batch: [Event] = [
            Fixtures.register("n2", zone: "other"), .nodeUnregistered(nodeID: "n1"), Fixtures.declare(Fixtures.hash(2)),
            .chunkRemoved(hash: Fixtures.hash(1)), Fixtures.replica(Fixtures.hash(2), on: "n2", index: 0),
            Fixtures.declare(Fixtures.hash(2), size: 999),  // conflict: the whole batch must roll back
        ]
        let error = #expect(throws: ApplyError.self) { try machine.apply(events: batch) }
        #expect(error?.eventIndex == 5)
        #expect(machine.state.checksum() == before)
        #expect(machine.state.allNodes() == nodesBefore)
        #expect(machine.state.chunk(Fixtures.hash(1)) != nil)
        #expect(machine.state.chunk(Fixtures.hash(2)) == nil)
        #expect(machine.state.node("n1")?.storedBytes == 0)
    }

    @Test func sameEventsGiveEqualChecksumsOnTwoMachinesAndThreeRuns() throws {
        let events = SyntheticHistory.events(.init(seed: 11, eventCount: 3_000))
        let checksums = try (0..<3).map { _ in try Fixtures.machine(events).state.checksum() }
        #expect(Set(checksums).count == 1)
    }

    @Test(arguments: [1, 7, 100, 3_000])
    func batchGroupingDoesNotChangeTheResult(batchSize: Int) throws {
        let events = SyntheticHistory.events(.init(seed: 5, eventCount: 3_000))
        let oneByOne = try events.reduce(into: StateMachine()) { machine, event in try machine.apply(event: event) }
        let grouped = Fixtures.machine(blobs: try events.encodedBlobs(publisher: "p", batchSize: batchSize))
        #expect(grouped.state.cursor.blobsRejected == 0)
        #expect(grouped.state.checksum() == oneByOne.state.checksum())
        #expect(grouped.state.summary() == oneByOne.state.summary())
    }

    @Test func restartRecoveryReachesTheSameChecksum() throws {
        let blobs = try SyntheticHistory.events(.init(seed: 9, eventCount: 2_000)).encodedBlobs(publisher: "p", batchSize: 50)
        let live = Fixtures.machine(blobs: blobs)
        // "Restart": a fresh machine replays the same DA history.
        let rebuilt = Fixtures.machine(blobs: blobs)
        #expect(rebuilt.state.checksum() == live.state.checksum())
        #expect(rebuilt.state.cursorDigest() == live.state.cursorDigest())
    }

    @Test func sameRegistrationThreeTimesLeavesOneNode() throws {
        let machine = try Fixtures.machine(Array(repeating: Fixtures.register("n1"), count: 3))
        #expect(machine.state.nodeCount == 1)
    }

    @Test func hundredNodesAcrossTenZones() throws {
        let events = (0..<100).map { Fixtures.register("node-\($0)", zone: "zone-\($0 % 10)") }
        let machine = try Fixtures.machine(events)
        #expect(machine.state.nodeCount == 100)
        #expect(machine.state.zones().count == 10)
        #expect(machine.state.zones().allSatisfy { $0.nodeIDs.count == 10 })
        #expect(try Fixtures.machine(events).state.checksum() == machine.state.checksum())
    }

    @Test func everyEntryTracesBackToAnEvent() throws {
        let events = SyntheticHistory.events(.init(seed: 3, eventCount: 2_000))
        let state = try Fixtures.machine(events).state
        var registeredIDs = Set<String>()
        var declared = Set<Hash256>()
        var replicaEvents = Set<String>()
        for event in events {
            switch event {
            case let .nodeRegistered(id, _, _, _): registeredIDs.insert(id)
            case let .chunkDeclared(hash, _, _, _, _): declared.insert(hash)
            case let .replicaAdded(hash, node, index, _, _): replicaEvents.insert("\(hash)/\(node)/\(index)")
            default: break
            }
        }
        #expect(state.allNodes().allSatisfy { registeredIDs.contains($0.id) })
        for hash in state.allChunkHashes() {
            #expect(declared.contains(hash))
            for replica in state.replicas(of: hash) {
                #expect(replicaEvents.contains("\(hash)/\(replica.nodeID)/\(replica.index)"))
            }
        }
        #expect(state.zones().allSatisfy { zone in zone.nodeIDs.allSatisfy { state.node($0)?.zone == zone.id } })
    }

    @Test func zoneQueries() throws {
        let chunk = Fixtures.hash(4)
        let machine = try Fixtures.machine([
            Fixtures.register("b", zone: "z2", capacity: 1_000), Fixtures.register("a", zone: "z1", capacity: 300),
            Fixtures.register("c", zone: "z1", capacity: 700), Fixtures.register("d", zone: "z3", capacity: 0),
            Fixtures.declare(chunk, size: 250, replicationFactor: 2), Fixtures.replica(chunk, on: "a", index: 0),
            Fixtures.replica(chunk, on: "b", index: 1),
        ])
        let state = machine.state
        #expect(state.zones().map(\.id) == ["z1", "z2", "z3"])
        #expect(state.allNodes().map(\.id) == ["a", "b", "c", "d"])
        #expect(state.zoneCapacity("z1") == 1_000)
        #expect(state.zoneUtilization("z1") == 0.25)
        #expect(state.zoneUtilization("z2") == 0.25)
        #expect(state.zoneUtilization("z3") == 0)
        #expect(state.zoneUtilization("nowhere") == 0)
        #expect(state.zoneCapacity("nowhere") == 0)
        #expect(state.zones().allSatisfy { (0...1).contains($0.utilization) && !$0.utilization.isNaN })
    }

    @Test func chunksOnANodeHaveNoDuplicates() throws {
        var events: [Event] = [Fixtures.register("n1"), Fixtures.register("n2")]
        for byte in UInt8(1)...20 {
            events += [Fixtures.declare(Fixtures.hash(byte)), Fixtures.replica(Fixtures.hash(byte), on: "n1", index: 0)]
            events.append(Fixtures.replica(Fixtures.hash(byte), on: "n1", index: 0))
        }
        let chunks = try Fixtures.machine(events).state.chunks(onNode: "n1")
        #expect(chunks.count == 20)
        #expect(Set(chunks).count == 20)
        #expect(chunks == chunks.sorted())
    }

    @Test func highVolume() throws {
        let events = SyntheticHistory.events(.init(seed: 77, eventCount: 50_000, nodeCount: 200, zoneCount: 8))
        let machine = Fixtures.machine(blobs: try events.encodedBlobs(publisher: "bulk", batchSize: 100))
        #expect(machine.state.cursor.blobsApplied == 500)
        #expect(machine.state.cursor.eventsApplied == 50_000)
        #expect(machine.state.chunkCount > 1_000)
        let summary = machine.state.summary()
        #expect(summary.liveReplicas == machine.state.allNodes().reduce(0) { $0 + $1.liveReplicas })
        let storedByChunks = machine.state.allChunkHashes().reduce(UInt64(0)) { total, hash in
            let chunk = machine.state.chunk(hash)
            return total + UInt64(chunk?.liveReplicaCount ?? 0) * (chunk?.sizeBytes ?? 0)
        }
        #expect(storedByChunks == machine.state.allNodes().reduce(UInt64(0)) { $0 + $1.storedBytes })
        #expect(machine.state.indexInconsistencies().isEmpty)
        // chunks(onNode:) comes from the per-node index; check it against a scan of the replica map.
        for node in machine.state.allNodes().prefix(20) {
            let scanned = machine.state.allChunkHashes().filter { hash in
                machine.state.replicas(of: hash).contains { $0.nodeID == node.id && !$0.isLost }
            }
            #expect(machine.state.chunks(onNode: node.id) == scanned)
        }
    }
}
