import DSDNCore
import DSDNDA
import DSDNTestSupport
import Foundation
import Testing

@testable import DSDNRuntime

@Suite struct PublisherTests {
    func node(_ i: Int) -> Event {
        .nodeRegistered(nodeID: "node-\(i)", zone: "zone-\(i % 3)", addr: "10.0.0.\(i % 250):7000", capacityBytes: 1 << 40)
    }

    func makePublisher(
        _ da: MemoryDA, batchSize: Int, maxBlobBytes: Int = 2 * 1024 * 1024, sleeper: Sleeper = RecordingSleeper().sleeper,
        lastSequence: UInt64 = 0
    ) throws -> EventPublisher {
        try EventPublisher(
            da: da, namespace: testNamespace, publisherID: "pub-1", lastSequence: lastSequence,
            options: fastPublisherOptions(batchSize: batchSize, sleeper: sleeper, maxBlobBytes: maxBlobBytes))
    }

    func envelopes(_ da: MemoryDA) async throws -> [BlobEnvelope] {
        try await da.allBlobs(of: testNamespace).map { try BlobCodec.decode($0.data) }
    }

    @Test func belowBatchSizeNothingIsPostedAndReachingItPostsOneBlob() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 5)
        var tickets: [PublishTicket] = []
        for i in 0..<4 { tickets.append(try await publisher.enqueue(node(i))) }
        #expect(try await da.head() == 0)
        #expect(await publisher.pendingCount == 4)
        tickets.append(try await publisher.enqueue(node(4)))
        let receipt = try await tickets[4].inclusion()
        #expect(receipt.sequence == 1)
        #expect(try await tickets[0].inclusion() == receipt)
        #expect(try await da.head() == 1)
        let posted = try await envelopes(da)
        #expect(posted.count == 1)
        #expect(posted.first?.events == (0..<5).map(node))
        #expect(await publisher.pendingCount == 0)
    }

    @Test func emptyFlushPostsNothing() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 5)
        await publisher.flush()
        #expect(try await da.head() == 0)
        #expect(await publisher.counters.submitAttempts == 0)
        #expect(await publisher.lastSequence == 0)
    }

    @Test func batchSizeZeroMeansOne() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 0)
        #expect(publisher.options.batchSize == 1)
        let first = try await publisher.publish(node(0))
        let second = try await publisher.publish(node(1))
        #expect(first.reference.height == 1 && second.reference.height == 2)
        #expect(try await envelopes(da).map(\.events.count) == [1, 1])
    }

    @Test func stopFlushesAndRefusesNewEvents() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 100)
        var tickets: [PublishTicket] = []
        for i in 0..<3 { tickets.append(try await publisher.enqueue(node(i))) }
        #expect(try await da.head() == 0)
        await publisher.stop()
        #expect(try await da.head() == 1)
        for ticket in tickets { #expect(try await ticket.inclusion().sequence == 1) }
        let error = await runtimeError { try await publisher.enqueue(node(9)) }
        #expect(error?.code == .stopped)
    }

    /// The background loop (run by the caller, here in a task group) posts on each flush-interval tick
    /// and returns after `stop()`; a second concurrent loop returns at once.
    @Test func runLoopTickPostsAndStopEndsIt() async throws {
        let da = MemoryDA()
        let ticks = TickSleeper()
        let publisher = try makePublisher(da, batchSize: 100, sleeper: ticks.sleeper)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await publisher.run() }
            let ticket = try await publisher.enqueue(node(0))
            #expect(try await da.head() == 0)
            while await !publisher.isRunning { await Task.yield() }
            await publisher.run()  // already running: returns at once
            ticks.tick()
            let receipt = try await ticket.inclusion()
            #expect(receipt.reference.height == 1)
            try await publisher.waitUntilDrained()
            #expect(await publisher.backlog == 0)
            await publisher.stop()
            try await group.waitForAll()
        }
        #expect(await publisher.isRunning == false)
        let afterStop = await runtimeError { try await publisher.enqueue(node(1)) }
        #expect(afterStop?.code == .stopped)
    }

    /// A full batch wakes the loop at once (no tick needed); `waitUntilDrained` returns when it landed.
    @Test func aFullBatchWakesTheLoop() async throws {
        let da = MemoryDA()
        let ticks = TickSleeper()
        let publisher = try makePublisher(da, batchSize: 3, sleeper: ticks.sleeper)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await publisher.run() }
            for i in 0..<3 { _ = try await publisher.enqueue(node(i)) }
            try await publisher.waitUntilDrained()
            #expect(try await da.head() == 1)
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// A cancelled `waitUntilDrained` throws `CancellationError` and leaves the publisher usable.
    @Test func waitUntilDrainedIsCancellable() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 100)
        _ = try await publisher.enqueue(node(0))
        let waiter = Task { try await publisher.waitUntilDrained() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await publisher.flush()
        try await publisher.waitUntilDrained()
    }

    @Test func hundredConcurrentPublishesLoseNothing() async throws {
        let da = MemoryDA()
        let publisher = try makePublisher(da, batchSize: 10)
        let receipts = try await withThrowingTaskGroup(of: PublishReceipt.self) { group in
            for i in 0..<100 { group.addTask { try await publisher.publish(node(i)) } }
            var all: [PublishReceipt] = []
            for try await receipt in group { all.append(receipt) }
            return all
        }
        #expect(receipts.count == 100)
        let posted = try await envelopes(da)
        #expect(posted.map(\.sequence) == Array(1...10))
        #expect(posted.allSatisfy { $0.events.count == 10 })
        let ids = posted.flatMap(\.events).compactMap { event -> String? in
            if case let .nodeRegistered(nodeID, _, _, _) = event { nodeID } else { nil }
        }
        #expect(Set(ids) == Set((0..<100).map { "node-\($0)" }))
        #expect(ids.count == 100)
    }

    @Test func blobSizeCapSplitsALargeBatch() async throws {
        let da = MemoryDA()
        let cap = 600
        let publisher = try makePublisher(da, batchSize: 64, maxBlobBytes: cap)
        let events = (0..<64).map(node)
        var tickets: [PublishTicket] = []
        for event in events { tickets.append(try await publisher.enqueue(event)) }
        for ticket in tickets { _ = try await ticket.inclusion() }
        let blobs = await da.allBlobs(of: testNamespace)
        #expect(blobs.count > 1)
        #expect(blobs.allSatisfy { $0.data.count <= cap })
        let posted = try await envelopes(da)
        #expect(posted.flatMap(\.events) == events)  // order preserved across the split
        #expect(posted.map(\.sequence) == Array(1...UInt64(posted.count)))
        #expect(await publisher.counters.splits > 0)
        // One event that alone exceeds the cap is refused up front.
        let huge = Event.nodeRegistered(
            nodeID: String(repeating: "n", count: 128), zone: String(repeating: "z", count: 128),
            addr: String(repeating: "h", count: 240) + ":1", capacityBytes: 1)
        let small = try makePublisher(da, batchSize: 1, maxBlobBytes: 300)
        let error = await runtimeError { try await small.enqueue(huge) }
        #expect(error?.code == .unpublishable)
    }

    @Test func sequencesContinueAfterLastSequenceAndRetriesReuseThem() async throws {
        let da = MemoryDA(faults: .init(seed: 1, failurePerMillion: 500_000))
        let sleeper = RecordingSleeper()
        let publisher = try makePublisher(da, batchSize: 2, sleeper: sleeper.sleeper, lastSequence: 41)
        for i in 0..<20 { _ = try await publisher.enqueue(node(i)) }
        await publisher.flush()
        let posted = try await envelopes(da)
        #expect(posted.map(\.sequence) == Array(42...51))
        #expect(await publisher.counters.submitFailures > 0)
        #expect(sleeper.durations.first == .seconds(1))
    }

    @Test func nonRetryableFailureFailsTheTickets() async throws {
        let da = MemoryDA(maxBlobSize: 100)
        let publisher = try makePublisher(da, batchSize: 3)
        let tickets = try await [publisher.enqueue(node(0)), publisher.enqueue(node(1)), publisher.enqueue(node(2))]
        let error = await runtimeError { try await tickets[2].inclusion() }
        #expect(error?.code == .unpublishable)
        #expect(await publisher.counters.eventsFailed == 3)
    }

    @Test func invalidPublisherID() async {
        let error = await runtimeError { try EventPublisher(da: MemoryDA(), namespace: testNamespace, publisherID: "has space") }
        #expect(error?.code == .unpublishable)
    }
}

/// A journal that records in memory and fails every write while `failing` is set (a full disk).
final class SwitchableJournal: PublisherJournal, @unchecked Sendable {
    private let lock = NSLock()
    private var failingNow = false
    private(set) var sealed: [UInt64] = []

    var failing: Bool {
        get { lock.withLock { failingNow } }
        set { lock.withLock { failingNow = newValue } }
    }

    private func check() throws(RuntimeError) {
        if failing { throw RuntimeError(.journalFailure, "outbox /data/outbox.log: cannot append: No space left on device") }
    }

    func recordAccepted(_ events: [JournaledEvent]) throws(RuntimeError) { try check() }
    func recordSealed(sequence: UInt64, ids: [UInt64]) throws(RuntimeError) {
        try check()
        lock.withLock { sealed.append(sequence) }
    }
    func recordIncluded(sequence: UInt64) throws(RuntimeError) { try check() }
}

/// A journal that cannot write (a full disk) refuses new events and postpones seals, without losing or
/// reordering anything and without using up a sequence; when it can write again, publishing resumes by
/// itself. (Its first failure used to stop the publisher until a restart.)
@Suite struct PublisherJournalFailureTests {
    @Test func aFailingJournalPostponesAndRecovers() async throws {
        let da = MemoryDA()
        let journal = SwitchableJournal()
        let publisher = try EventPublisher(
            da: da, namespace: testNamespace, publisherID: "pub-1",
            options: fastPublisherOptions(batchSize: 10, sleeper: RecordingSleeper().sleeper), journal: journal)
        let first = try await publisher.enqueue(Fixtures.register("n1"))
        journal.failing = true
        await #expect(throws: RuntimeError.self) { try await publisher.enqueue(Fixtures.register("n2")) }
        #expect(await publisher.journalFailure?.code == .journalFailure)
        // The seal of the accepted event fails: nothing is posted, the event waits.
        await publisher.flush()
        #expect(await da.allBlobs(of: testNamespace).isEmpty)
        #expect(await publisher.backlog == 1)
        #expect(await publisher.lastSequence == 0)

        journal.failing = false
        let second = try await publisher.enqueue(Fixtures.register("n3"))
        #expect(await publisher.journalFailure == nil)
        await publisher.flush()
        #expect(try await first.inclusion().sequence == 1)
        #expect(try await second.inclusion().sequence == 1)
        let envelopes = try await da.allBlobs(of: testNamespace).map { try BlobCodec.decode($0.data) }
        #expect(envelopes.map(\.sequence) == [1])
        #expect(envelopes.first?.events == [Fixtures.register("n1"), Fixtures.register("n3")])
        #expect(journal.sealed == [1])
        #expect(await publisher.counters.journalFailures == 2)
    }
}
