import DSDNCore
import DSDNDA
import DSDNTestSupport
import Testing

@testable import DSDNRuntime

@Suite struct ConsumerTests {
    @Test func followsNewHeightsAndBackfillsEmptyOnes() async throws {
        let da = MemoryDA()
        let consumer = fastConsumer(da)
        #expect(await consumer.health == .idle)
        let task = Task { try await consumer.run() }
        let events = Array(history.prefix(30))
        try await publishAll(Array(events.prefix(10)), to: da, batchSize: 10)
        await da.appendEmptyHeight()
        await da.appendForeignBlob([1, 2, 3], to: testNamespace)
        await da.appendForeignBlob([1, 2, 3], to: DANamespace(name: "someone-else"))
        try await publishAll(Array(events.suffix(20)), to: da, batchSize: 10, publisherID: "coordinator-2")
        try await consumer.waitUntilApplied(6)
        #expect(await consumer.appliedHeight == 6)
        #expect(await consumer.lag == 0)
        #expect(await consumer.health == .following)
        let counters = await consumer.counters
        #expect(counters.heightsApplied == 6)
        #expect(counters.delivery.blobsApplied == 3)
        #expect(counters.delivery.rejections(.foreign) == 1)
        #expect(await consumer.checksum() == (try cleanChecksum(events)))
        task.cancel()
        try await task.value
        #expect(await consumer.health == .stopped)
        // A second run is allowed after the first stopped; a waiter on an unreachable height is
        // released with `stopped` when the run ends.
        let again = Task { try await consumer.run() }
        let waiter = Task { try await consumer.waitUntilApplied(100) }
        try await consumer.waitUntilApplied(6)
        again.cancel()
        try await again.value
        let error = await runtimeError { try await waiter.value }
        #expect(error?.code == .stopped)
    }

    @Test func backoffDoublesToSixtySecondsWhileTheDAIsDown() async throws {
        let da = MemoryDA()
        try await publishAll(Array(history.prefix(10)), to: da, batchSize: 10)
        await da.setDown("network partition")
        let sleeper = RecordingSleeper { count in
            if count == 9 { await da.setDown(nil) }
        }
        let consumer = fastConsumer(da, sleeper: sleeper.sleeper)
        let task = Task { try await consumer.run() }
        try await consumer.waitUntilApplied(1)
        task.cancel()
        try await task.value
        #expect(sleeper.durations == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(await consumer.counters.daErrors == 9)
    }

    @Test func prunedHistoryStopsTheConsumer() async throws {
        let da = MemoryDA(retainHeights: 2)
        try await publishAll(Array(history.prefix(50)), to: da, batchSize: 10)
        let consumer = fastConsumer(da)
        let error = await runtimeError { try await consumer.run() }
        #expect(error?.code == .prunedHistory)
        #expect(error?.height == 1)
        if case let .failed(reason) = await consumer.health {
            #expect(reason.code == .prunedHistory)
        } else {
            Issue.record("health should be failed")
        }
        #expect(await consumer.appliedHeight == 0)
    }

    @Test func continuesAfterARebuild() async throws {
        let da = MemoryDA()
        let events = Array(history.prefix(200))
        try await publishAll(Array(events.prefix(100)), to: da, batchSize: 25)
        let (machine, report) = try await fastRebuilder(da).rebuild()
        let consumer = DAConsumer(
            da: da, namespace: testNamespace, machine: machine, appliedHeight: report.toHeight,
            options: .init(sleeper: RecordingSleeper().sleeper))
        try await publishAll(Array(events.suffix(100)), to: da, batchSize: 25, publisherID: "coordinator-2")
        let state = try await consumeToHead(consumer, head: 8)
        #expect(await consumer.counters.heightsApplied == 4)
        #expect(state.checksum() == (try cleanChecksum(events)))
    }

    @Test func runningTwiceIsAnError() async throws {
        let da = MemoryDA()
        let consumer = fastConsumer(da)
        let task = Task { try await consumer.run() }
        // Wait until the first run is following (it has read the head and waits for a wake-up).
        await da.appendEmptyHeight()
        try await consumer.waitUntilApplied(1)
        let error = await runtimeError { try await consumer.run() }
        #expect(error?.code == .alreadyStarted)
        task.cancel()
        try await task.value
    }
}
