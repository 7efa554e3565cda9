import CelestiaTestServer
import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNSimulation
import DSDNTestSupport
import Logging
import Testing

@testable import DSDNCelestia

/// The namespace every Celestia test writes to.
let celestiaTestNamespace = DANamespace(name: "dsdn-celestia-tests")

/// Client options for tests: short timeouts and backoff, a fast poll.
func testOptions(
    submitTimeout: Duration = .seconds(10),
    landingTimeout: Duration = .seconds(10)
) -> CelestiaOptions {
    var options = CelestiaOptions()
    options.submitTimeout = submitTimeout
    options.requestTimeout = .seconds(10)
    options.heightWaitTimeout = .seconds(5)
    options.landingTimeout = landingTimeout
    options.pollInterval = .milliseconds(20)
    options.retryBackoffInitial = .milliseconds(1)
    options.retryBackoffMaximum = .milliseconds(10)
    return options
}

/// A quiet logger.
let quietLogger: Logger = {
    var logger = Logger(label: "dsdn.celestia.tests")
    logger.logLevel = .critical
    return logger
}()

/// Starts a test server, runs `body` with it, and stops it whatever happens.
func withServer<T>(
    blockTime: Duration = .milliseconds(20),
    token: String? = "test-token",
    readToken: String? = nil,
    maxBodyBytes: Int = 16 * 1024 * 1024,
    faults: CelestiaFaults = .none,
    _ body: (CelestiaTestServer) async throws -> T
) async throws -> T {
    let server = try await CelestiaTestServer.start(
        .init(
            blockTime: blockTime, token: token, readToken: readToken, maxBodyBytes: maxBodyBytes, maxWait: .seconds(10),
            faults: faults))
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// A client of `server`, closed after `body` whatever happens.
func withClient<T>(
    _ server: CelestiaTestServer,
    token: String? = "test-token",
    options: CelestiaOptions = testOptions(),
    namespace: DANamespace = celestiaTestNamespace,
    _ body: (CelestiaDA) async throws -> T
) async throws -> T {
    let address = CelestiaAddress(host: "127.0.0.1", port: server.port, namespace: namespace, options: options)
    let da = CelestiaDA(address: address, token: token.map { CelestiaAuthToken($0) }, logger: quietLogger)
    do {
        let result = try await body(da)
        await da.close()
        return result
    } catch {
        await da.close()
        throw error
    }
}

/// A sleeper that never waits on the wall clock (backoff in the runtime components).
let immediateSleeper = Sleeper { _ in
    try Task.checkCancellation()
    await Task.yield()
}

/// Publishes `events` through an ``EventPublisher`` (enqueue all, flush, await every ticket).
@discardableResult
func publish(
    _ events: [Event], to da: any DALayer, batchSize: Int = 50
) async throws -> EventPublisher {
    let publisher = try EventPublisher(
        da: da, namespace: celestiaTestNamespace, publisherID: "coordinator-1",
        options: .init(
            batchSize: batchSize, flushInterval: .seconds(5), maxBlobBytes: 2 * 1024 * 1024, maxAttempts: nil,
            backoff: .standard, sleeper: immediateSleeper, landingTimeout: .seconds(10)))
    var tickets: [PublishTicket] = []
    for event in events { tickets.append(try await publisher.enqueue(event)) }
    await publisher.flush()
    for ticket in tickets { _ = try await ticket.inclusion() }
    return publisher
}

/// Follows `da` with a ``DAConsumer`` until `height` is applied, then stops it; returns the consumer.
func consume(_ da: any DALayer, through height: UInt64) async throws -> DAConsumer {
    let consumer = DAConsumer(
        da: da, namespace: celestiaTestNamespace,
        options: .init(backoff: .standard, sleeper: immediateSleeper, pollInterval: .milliseconds(20)))
    let task = Task { try await consumer.run() }
    do {
        try await consumer.waitUntilApplied(height)
    } catch {
        task.cancel()
        throw error
    }
    task.cancel()
    try await task.value
    return consumer
}

/// A rebuilder over `da` that never waits on the wall clock.
func rebuilder(_ da: any DALayer, maxAttempts: Int = 10) -> StateRebuilder {
    StateRebuilder(
        da: da, namespace: celestiaTestNamespace,
        options: .init(maxAttempts: maxAttempts, backoff: .standard, sleeper: immediateSleeper, maxRereads: 2))
}

/// The checksum of applying `events` directly (no DA at all).
func directChecksum(_ events: [Event]) throws -> Hash256 {
    var machine = StateMachine()
    for event in events { try machine.apply(event: event) }
    return machine.state.checksum()
}

/// A history small enough for a quick test yet exercising every event kind.
let celestiaHistory = SyntheticHistory.events(.init(seed: 42, eventCount: 600))

/// Blob bytes that are easy to tell apart.
func sampleBlob(_ tag: Int, size: Int = 100) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ tag &* 7 &+ 1) }
}
