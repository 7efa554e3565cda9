import DSDNCore
import DSDNDA
import DSDNSimulation
import DSDNTestSupport
import Foundation
import Synchronization
import Testing

@testable import DSDNRuntime

let testNamespace = DANamespace(name: "dsdn-runtime-tests")

/// Records every requested sleep and returns at once: backoff never costs wall-clock time, and tests can
/// assert the exact delays. `onSleep` runs after recording (e.g. to bring a DA back up).
final class RecordingSleeper: Sendable {
    private let recorded = Mutex<[Duration]>([])
    private let onSleep: @Sendable (Int) async -> Void

    init(onSleep: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.onSleep = onSleep
    }

    var durations: [Duration] { recorded.withLock { $0 } }

    var sleeper: Sleeper {
        Sleeper { duration in
            let count = self.recorded.withLock { list in
                list.append(duration)
                return list.count
            }
            try Task.checkCancellation()
            await self.onSleep(count)
            await Task.yield()
        }
    }
}

/// A sleeper that returns only when the test sends a tick (or throws when cancelled).
final class TickSleeper: Sendable {
    let ticks: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        ticks = stream
        self.continuation = continuation
    }

    func tick() { continuation.yield() }

    var sleeper: Sleeper {
        let stream = ticks
        return Sleeper { _ in
            var iterator = stream.makeAsyncIterator()
            guard await iterator.next() != nil else { throw CancellationError() }
            try Task.checkCancellation()
        }
    }
}

/// A fresh directory under the system's temporary directory, removed when the value goes away.
final class TempDir: Sendable {
    let path: String

    init() {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("dsdn-runtime-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Options that never wait on the wall clock.
func fastPublisherOptions(batchSize: Int = 100, sleeper: Sleeper, maxBlobBytes: Int = 2 * 1024 * 1024) -> EventPublisher.Options {
    EventPublisher.Options(
        batchSize: batchSize, flushInterval: .seconds(5), maxBlobBytes: maxBlobBytes, maxAttempts: nil,
        backoff: .standard, sleeper: sleeper)
}

func fastRebuilder(_ da: any DALayer, maxAttempts: Int = 10, sleeper: Sleeper = RecordingSleeper().sleeper) -> StateRebuilder {
    StateRebuilder(
        da: da, namespace: testNamespace,
        options: .init(maxAttempts: maxAttempts, backoff: .standard, sleeper: sleeper, maxRereads: 5))
}

func fastConsumer(_ da: any DALayer, sleeper: Sleeper = RecordingSleeper().sleeper) -> DAConsumer {
    DAConsumer(da: da, namespace: testNamespace, options: .init(backoff: .standard, sleeper: sleeper, pollInterval: .seconds(5)))
}

/// Publishes `events` through an ``EventPublisher`` (enqueue all, then flush) and returns the publisher.
@discardableResult
func publishAll(
    _ events: [Event], to da: any DALayer, batchSize: Int = 100,
    publisherID: String = "coordinator-1"
) async throws -> EventPublisher {
    let publisher = try EventPublisher(
        da: da, namespace: testNamespace, publisherID: publisherID,
        options: fastPublisherOptions(batchSize: batchSize, sleeper: RecordingSleeper().sleeper))
    var tickets: [PublishTicket] = []
    for event in events { tickets.append(try await publisher.enqueue(event)) }
    await publisher.flush()
    for ticket in tickets { _ = try await ticket.inclusion() }
    return publisher
}

/// The state of applying `events` directly, without any DA: the reference for every convergence test.
func cleanChecksum(_ events: [Event]) throws -> Hash256 {
    var machine = StateMachine()
    for event in events { try machine.apply(event: event) }
    return machine.state.checksum()
}

/// Runs a consumer until it applied the DA's head, then cancels it; returns its final state.
func consumeToHead(_ consumer: DAConsumer, head: UInt64) async throws -> DerivedState {
    let task = Task { try await consumer.run() }
    try await consumer.waitUntilApplied(head)
    task.cancel()
    try await task.value
    return await consumer.snapshot()
}

/// The history used by the convergence tests.
let history = SyntheticHistory.events(.init(seed: 42, eventCount: 3_000))

/// A view of a backend that names no commitment scheme it can recompute (``CommitmentScheme/unverified``):
/// readers then cannot verify, and a publisher cannot look for its blob after an ambiguous failure.
struct UnverifiedDA: DALayer {
    let base: any DALayer

    func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        try await base.submit(blob, to: namespace)
    }

    func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        try await base.blobs(of: namespace, at: height)
    }

    func head() async throws(DAError) -> UInt64 { try await base.head() }
    func newHeights() -> AsyncStream<UInt64> { base.newHeights() }
    func health() async -> DAHealth { await base.health() }
    var commitmentScheme: CommitmentScheme { .unverified }
}
