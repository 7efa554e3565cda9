import DSDNCore
import DSDNDA
import Foundation
import Testing

@testable import DSDNRuntime

/// The swarm: three publishers (three coordinators' worth) on one memory DA with every fault at once —
/// failed submits, submits that fail but land, duplicated blobs, corrupted reads, foreign blobs, and old
/// blobs replayed inside a height in a scrambled order — driven in an order drawn from the seed, so a
/// run is reproducible from its seed alone. Every run must converge: a consumer and a rebuild of the DA
/// reach the checksum of applying all events without any DA, and every event is applied exactly once.
///
/// CI runs 6 seeds; the long run is one command (docs/reliability.md):
/// `DSDN_SWARM_SEEDS=200 swift test --filter SwarmTests`. A failing seed is printed; replay it alone with
/// `DSDN_SWARM_SEED=<seed> swift test --filter SwarmTests`.
@Suite struct SwarmTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["DSDN_SWARM_SEED"].flatMap(UInt64.init) { return [one] }
        let count = environment["DSDN_SWARM_SEEDS"].flatMap(UInt64.init) ?? 6
        return Array(1...max(1, count))
    }

    /// Each publisher's own part of the history: nodes, chunks and replicas no other publisher touches,
    /// so the final state does not depend on how their blobs interleave.
    static func partition(_ publisher: Int) -> [Event] {
        var events: [Event] = []
        for node in 0..<6 {
            events.append(
                .nodeRegistered(
                    nodeID: "p\(publisher)-n\(node)", zone: "z\(node % 3)", addr: "10.0.\(publisher).\(node):7000", capacityBytes: 1 << 40))
        }
        for chunk in 0..<20 {
            let hash = sha256(Array("p\(publisher)-c\(chunk)".utf8))
            events.append(
                .chunkDeclared(hash: hash, sizeBytes: 4_096, replicationFactor: 2, uploaderID: "p\(publisher)", daCommitment: nil))
            for index in 0..<2 {
                events.append(
                    .replicaAdded(
                        hash: hash, nodeID: "p\(publisher)-n\((chunk + index * 3) % 6)", replicaIndex: UInt8(index),
                        addedAtMillis: UInt64(1_000 + chunk), provenance: nil))
            }
            if chunk % 5 == 0 { events.append(.replicaRemoved(hash: hash, nodeID: "p\(publisher)-n\(chunk % 6)")) }
        }
        events.append(.nodeStatusChanged(nodeID: "p\(publisher)-n5", status: .draining))
        return events
    }

    struct Report: CustomStringConvertible {
        var seed: UInt64
        var faults: Int
        var blobs: Int
        var converged: Bool
        var description: String { "seed \(seed): \(blobs) blobs published, \(faults) faults injected, converged: \(converged)" }
    }

    static func run(seed: UInt64) async throws -> Report {
        let da = MemoryDA(
            faults: .init(
                seed: seed, failurePerMillion: 150_000, failButLandPerMillion: 100_000, duplicatePerMillion: 100_000,
                corruptionPerMillion: 80_000))
        var generator = SeededGenerator(seed: seed ^ 0x5157_4152_4D00)
        let partitions = (0..<3).map(partition)
        let publishers = try (0..<3).map { index in
            try EventPublisher(
                da: da, namespace: testNamespace, publisherID: "coordinator-\(index)",
                options: fastPublisherOptions(batchSize: 8, sleeper: RecordingSleeper().sleeper))
        }
        var next = [0, 0, 0]
        // One batch at a time, from a publisher the seed picks, so the DA sees one reproducible sequence
        // of calls (and so of faults).
        while next.indices.contains(where: { next[$0] < partitions[$0].count }) {
            let open = next.indices.filter { next[$0] < partitions[$0].count }
            let index = open[Int(generator.below(UInt64(open.count)))]
            let take = 1 + Int(generator.below(12))
            let batch = Array(partitions[index][next[index]..<min(partitions[index].count, next[index] + take)])
            next[index] += batch.count
            let tickets = try await publishers[index].enqueue(batch)
            await publishers[index].flush()
            for ticket in tickets { _ = try await ticket.inclusion() }
            // Now and then: a foreign blob, or an old blob replayed next to one, in a scrambled order.
            switch generator.below(6) {
            case 0:
                await da.appendForeignBlob(Array("not a dsdn blob \(generator.next())".utf8), to: testNamespace)
            case 1:
                let stored = await da.allBlobs(of: testNamespace).map(\.data)
                if let old = stored.randomElement(using: &generator) {
                    let foreign = Array("foreign \(generator.next())".utf8)
                    let height = generator.below(2) == 0 ? [old, foreign] : [foreign, old]
                    await da.appendHeight(height.map { (testNamespace, $0) })
                }
            default: break
            }
        }
        let expected = try cleanChecksum(partitions.flatMap { $0 })
        let head = try await da.head()
        let consumer = fastConsumer(da)
        let live = try await consumeToHead(consumer, head: head)
        let (_, rebuilt) = try await fastRebuilder(da, maxAttempts: 200).rebuild()
        let eventsApplied = live.cursor.eventsApplied
        let faults = await da.injectedFaults.count
        let blobs = await publishers.asyncSum { await $0.counters.blobsPublished }
        let converged =
            live.checksum() == expected && rebuilt.checksum == expected && eventsApplied == UInt64(partitions.joined().count)
        return Report(seed: seed, faults: faults, blobs: blobs, converged: converged)
    }

    @Test func everySeedConvergesToTheFaultFreeChecksum() async throws {
        var reports: [Report] = []
        for seed in Self.seeds {
            let report = try await Self.run(seed: seed)
            reports.append(report)
            #expect(report.converged, "diverged: \(report); replay with DSDN_SWARM_SEED=\(seed) swift test --filter SwarmTests")
        }
        let faults = reports.reduce(0) { $0 + $1.faults }
        print("swarm: \(reports.count) seeds, \(faults) faults injected, \(reports.filter(\.converged).count) converged")
        #expect(faults > 0)
    }
}

extension Array {
    fileprivate func asyncSum(_ value: (Element) async -> UInt64) async -> Int {
        var total: UInt64 = 0
        for element in self { total += await value(element) }
        return Int(total)
    }
}
