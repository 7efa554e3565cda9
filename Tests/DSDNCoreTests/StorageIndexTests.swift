import Testing

@testable import DSDNCore

/// The chunk table and the slot sets against plain `Dictionary` and `Set` models, under seeded random
/// operations long enough to grow, shrink by removal, reuse freed regions and collide in the index.
@Suite struct StorageIndexTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func chunkTableAgreesWithADictionary(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = ChunkTable()
        var model: [Hash256: UInt64] = [:]
        // Hashes sharing three words and differing in one, so index tags collide often.
        func hash() -> Hash256 {
            Hash256(w0: random.next() % 64, w1: 7, w2: random.next() % 2_048, w3: 9)
        }
        var disagreements = 0
        for step in 0..<40_000 {
            let key = hash()
            if let slot = table.slot(of: key) {
                if table[slot].sizeBytes != model[key] || table.hash(at: slot) != key { disagreements += 1 }
                if random.next() % 3 == 0 {
                    table.remove(at: slot)
                    model[key] = nil
                }
            } else {
                if model[key] != nil { disagreements += 1 }
                let size = UInt64(step + 1)
                let slot = table.append(key, ChunkRecord(sizeBytes: size, uploader: 0, replicationFactor: 1, daCommitment: nil))
                if table.hash(at: slot) != key { disagreements += 1 }
                model[key] = size
            }
        }
        #expect(disagreements == 0)
        #expect(table.count == model.count)
        #expect(table.count > 1_000, "the table grew past several rehashes")
        for (key, size) in model where table[key]?.sizeBytes != size { disagreements += 1 }
        #expect(disagreements == 0)
        #expect(Set(table.entries.map(\.hash)) == Set(model.keys))
    }

    @Test(arguments: [UInt64(4), 5])
    func slotSetsAgreeWithSets(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var sets = SlotSets()
        var model: [Set<UInt32>] = []
        for _ in 0..<12 {
            sets.addSet()
            model.append([])
        }
        var disagreements = 0
        for _ in 0..<60_000 {
            let set = Int(random.next() % 12)
            // Sets of very different sizes, so regions grow at different times and freed ones are reused.
            let slot = UInt32(random.next() % UInt64(16 << set))
            if random.next() % 5 < 3 {
                if sets.insert(slot, into: set) != model[set].insert(slot).inserted { disagreements += 1 }
            } else {
                if sets.remove(slot, from: set) != (model[set].remove(slot) != nil) { disagreements += 1 }
            }
            if sets.contains(slot, in: set) != model[set].contains(slot) { disagreements += 1 }
        }
        #expect(disagreements == 0)
        for set in model.indices {
            let members = sets.members(of: set)
            #expect(members.count == model[set].count)
            #expect(Set(members) == model[set])
            #expect(sets.count(of: set) == model[set].count)
        }
        #expect(model.contains { $0.count > 1_000 }, "some set grew through several regions")
    }

    @Test func removingAllMembersKeepsTheSets() {
        var sets = SlotSets()
        sets.addSet()
        sets.addSet()
        for slot in UInt32(0)..<100 { sets.insert(slot, into: Int(slot % 2)) }
        sets.removeAllMembers()
        #expect(sets.setCount == 2)
        #expect(sets.members(of: 0).isEmpty && sets.count(of: 1) == 0)
        let inserted = sets.insert(5, into: 1)
        #expect(inserted)
        #expect(sets.members(of: 1) == [5])
    }

    /// Replication factors over three keep replicas past the inline three; loss, removal and rollback
    /// must keep every index equal to a recomputation.
    @Test func wideReplicationKeepsIndexesConsistent() throws {
        var machine = StateMachine()
        let nodes = (0..<8).map { "n\($0)" }
        try machine.apply(events: nodes.map { .nodeRegistered(nodeID: $0, zone: "z", addr: "h:1", capacityBytes: 1 << 30) })
        let chunk = Hash256(w0: 1, w1: 2, w2: 3, w3: 4)
        try machine.apply(events: [.chunkDeclared(hash: chunk, sizeBytes: 10, replicationFactor: 6, uploaderID: "u", daCommitment: nil)])
        try machine.apply(
            events: (0..<6).map {
                .replicaAdded(hash: chunk, nodeID: nodes[$0], replicaIndex: UInt8($0), addedAtMillis: 1, provenance: nil)
            })
        #expect(machine.state.chunk(chunk)?.liveReplicaCount == 6)
        try machine.apply(events: [.nodeStatusChanged(nodeID: "n4", status: .down)])
        try machine.apply(events: [.replicaRemoved(hash: chunk, nodeID: "n1")])
        let before = machine.state.checksum()
        // A batch that fails after touching the wide record rolls back to the same state.
        #expect(throws: ApplyError.self) {
            try machine.apply(events: [
                .replicaAdded(hash: chunk, nodeID: "n6", replicaIndex: 4, addedAtMillis: 2, provenance: nil),
                .nodeStatusChanged(nodeID: "n5", status: .down),
                .replicaAdded(hash: chunk, nodeID: "n7", replicaIndex: 9, addedAtMillis: 2, provenance: nil),
            ])
        }
        #expect(machine.state.checksum() == before)
        #expect(machine.state.indexInconsistencies().isEmpty)
        try machine.apply(events: [.replicaAdded(hash: chunk, nodeID: "n6", replicaIndex: 4, addedAtMillis: 3, provenance: nil)])
        let info = try #require(machine.state.chunk(chunk))
        #expect(info.liveReplicaCount == 5)
        #expect(info.replicas.map(\.nodeID) == ["n0", "n2", "n3", "n6", "n5"])
        #expect(machine.state.chunks(onNode: "n6") == [chunk])
        #expect(machine.state.chunks(onNode: "n4").isEmpty)
        #expect(machine.state.indexInconsistencies().isEmpty)
    }
}
