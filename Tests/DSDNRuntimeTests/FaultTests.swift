import DSDNCore
import DSDNDA
import Testing

@testable import DSDNRuntime

/// Convergence under seeded MemoryDA faults. Every scenario publishes first and then reads, so the
/// sequence of DA calls (and with it every injected fault) is reproducible from the seed.
@Suite struct FaultTests {
    let events = Array(history.prefix(1_500))

    @Test func halfOfAllDACallsFailing() async throws {
        let da = MemoryDA(faults: .init(seed: 7, failurePerMillion: 500_000))
        let publisher = try await publishAll(events, to: da, batchSize: 50)
        let published = await publisher.counters
        #expect(published.submitFailures > 0)
        #expect(published.blobsPublished == 30)

        let consumer = fastConsumer(da)
        let live = try await consumeToHead(consumer, head: try await da.head())
        let counters = await consumer.counters
        #expect(counters.daErrors > 0)
        #expect(live.checksum() == (try cleanChecksum(events)))

        let (_, report) = try await fastRebuilder(da, maxAttempts: 40).rebuild(expectedChecksum: try cleanChecksum(events))
        #expect(report.daRetries > 0)
        #expect(report.cursorDigest == live.cursorDigest())
        let failures = await da.injectedFaults.filter { if case .readFailed = $0 { true } else { false } }
        #expect(!failures.isEmpty)
    }

    /// Fail-but-land: the submit stored the blob and still threw `unavailable`. Resolved by the
    /// publisher's **inclusion check**: it finds its blob on the DA and does not resubmit, so no
    /// duplicate is ever posted.
    @Test func failButLandResolvedByInclusionCheck() async throws {
        let da = MemoryDA(faults: .init(seed: 11, failButLandPerMillion: 300_000))
        let publisher = try await publishAll(events, to: da, batchSize: 50)
        let counters = await publisher.counters
        #expect(counters.landedDespiteFailure > 0)
        #expect(counters.resubmissions == 0)
        #expect(try await da.head() == 30)

        let (_, report) = try await fastRebuilder(da).rebuild(expectedChecksum: try cleanChecksum(events))
        #expect(report.counts.blobsDuplicate == 0)
        #expect(report.counts.eventsApplied == UInt64(events.count))  // every event exactly once
    }

    /// Fail-but-land with the inclusion check unavailable (a backend whose commitment cannot be
    /// recomputed): the publisher resubmits the same bytes under the same sequence, the DA holds copies,
    /// and the state machine's **(publisher, sequence) dedupe** applies each batch once.
    @Test func failButLandResolvedByDedupe() async throws {
        let da = MemoryDA(faults: .init(seed: 11, failButLandPerMillion: 300_000))
        let publisher = try await publishAll(events, to: UnverifiedDA(base: da), batchSize: 50)
        let counters = await publisher.counters
        #expect(counters.resubmissions > 0)
        #expect(counters.landedDespiteFailure == 0)
        #expect(try await da.head() > 30)

        let consumer = fastConsumer(da)
        let live = try await consumeToHead(consumer, head: try await da.head())
        let delivery = await consumer.counters.delivery
        #expect(delivery.blobsDuplicate == counters.resubmissions)
        #expect(delivery.eventsApplied == UInt64(events.count))  // every event exactly once
        #expect(live.checksum() == (try cleanChecksum(events)))
    }

    @Test func duplicateDeliveriesDoNotChangeTheChecksum() async throws {
        let da = MemoryDA(faults: .init(seed: 5, duplicatePerMillion: 300_000))
        try await publishAll(events, to: da, batchSize: 50)
        #expect(try await da.head() > 30)
        let consumer = fastConsumer(da)
        let live = try await consumeToHead(consumer, head: try await da.head())
        let delivery = await consumer.counters.delivery
        #expect(delivery.blobsDuplicate > 0)
        #expect(delivery.blobsApplied == 30)
        #expect(live.checksum() == (try cleanChecksum(events)))
        let (_, report) = try await fastRebuilder(da).rebuild(expectedChecksum: live.checksum())
        #expect(report.cursorDigest == live.cursorDigest())
    }

    /// Corrupted reads are caught by the commitment check and re-read; without the check they would be
    /// `integrity_mismatch` rejections and those batches would be lost for good.
    @Test func corruptedReadsAreDetectedAndReread() async throws {
        let da = MemoryDA(faults: .init(seed: 3, corruptionPerMillion: 200_000))
        try await publishAll(events, to: da, batchSize: 50)
        let consumer = fastConsumer(da)
        let live = try await consumeToHead(consumer, head: try await da.head())
        let counters = await consumer.counters
        #expect(counters.commitmentRereads > 0)
        #expect(counters.delivery.blobsRejected == 0)
        #expect(live.checksum() == (try cleanChecksum(events)))

        let (_, report) = try await fastRebuilder(da).rebuild(expectedChecksum: try cleanChecksum(events))
        #expect(report.commitmentRereads > 0)
        #expect(report.counts.blobsRejected == 0)
        let corruptions = await da.injectedFaults.filter { if case .corrupted = $0 { true } else { false } }
        #expect(UInt64(corruptions.count) >= counters.commitmentRereads)
    }

    /// The same corruption without verification shows what the check prevents.
    @Test func withoutVerificationCorruptionLosesBatches() async throws {
        let da = MemoryDA(faults: .init(seed: 3, corruptionPerMillion: 200_000))
        try await publishAll(events, to: da, batchSize: 50)
        let rebuilder = StateRebuilder(
            da: UnverifiedDA(base: da), namespace: testNamespace, options: .init(sleeper: RecordingSleeper().sleeper))
        let (_, report) = try await rebuilder.rebuild()
        #expect(report.counts.blobsRejected > 0)
        #expect(report.checksum != (try cleanChecksum(events)))
    }
}
