import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNScheduler
import Logging
import ServiceLifecycle
import UnixSignals

/// A running coordinator: the I/O shell around the pure state machine, as a set of services composed
/// here (``serviceGroup(with:gracefulShutdownSignals:)``), in start order:
///
/// | service | what it runs |
/// | --- | --- |
/// | consumer | ``DAConsumer``: follows the DA and applies every height |
/// | publisher | ``EventPublisher`` with the ``FileOutbox`` as its journal; a bounded final flush on stop |
/// | intake | start-up (catch up, drain the outbox), submissions, inclusion, recovery of refused own blobs |
/// | placement | the scheduling loop (``PlacementLoop``) after every applied height |
/// | first start | publishes the default policy and the seed history once (`FirstStartService`) |
/// | others | the HTTP API and whatever the caller adds |
/// | shutdown gate | on graceful shutdown, first: refuse submissions, answer callers waiting for inclusion |
///
/// A group shuts its services down in reverse order: the gate refuses submissions, the API stops taking
/// requests, the loop stops placing, the intake stops following, the publisher flushes (what cannot be
/// flushed stays in the outbox), the consumer stops following; then the data directory's lock is
/// released.
///
/// This type holds the parts and answers the questions the API asks (health, status, snapshots,
/// submissions); it has no loop of its own.
public final class CoordinatorNode: Sendable {
    /// Where the coordinator is in its life.
    public typealias Phase = CoordinatorLifecycle.Phase

    /// The configuration.
    public let configuration: CoordinatorConfiguration
    /// The DA followed and published to.
    public let da: any DALayer
    /// The consumer (owns the state machine).
    public let consumer: DAConsumer
    /// The publisher (its journal is ``outbox``).
    public let publisher: EventPublisher
    /// The durable outbox.
    public let outbox: FileOutbox
    /// Metrics for `GET /metrics`.
    public let metrics: CoordinatorMetrics
    /// The logger.
    public let logger: Logger
    /// The phase, shared by the services.
    public let lifecycle: CoordinatorLifecycle
    /// Submissions, inclusion and recovery.
    public let intake: Intake
    /// The scheduling loop.
    public let placement: PlacementLoop
    /// The scheduling loop's policy evaluation thread.
    public let placementEvaluator: PolicyEvaluator
    /// The previews' policy evaluation threads.
    public let previewEvaluator: PolicyEvaluator
    /// How many previews may run or wait, in all and per client.
    public let previewAdmission: PreviewAdmission
    /// Published policy versions, compiled once each (the scheduling loop and previews share them).
    public let policies = PolicyLibrary()

    private let lock: DirectoryLock

    /// Opens a coordinator on `da`: takes the data directory's lock and opens the outbox. Nothing runs
    /// until the group of ``serviceGroup(with:gracefulShutdownSignals:)`` runs. Throws a one-line error
    /// when the directory is locked by another coordinator or the outbox is corrupted.
    public init(configuration: CoordinatorConfiguration, da: any DALayer, logger: Logger) throws(RuntimeError) {
        self.configuration = configuration
        self.da = da
        self.logger = logger
        lock = try DirectoryLock.acquire(directory: configuration.dataDirectory)
        outbox = try FileOutbox(directory: configuration.dataDirectory)
        metrics = CoordinatorMetrics()
        lifecycle = CoordinatorLifecycle()
        consumer = DAConsumer(da: da, namespace: configuration.namespace, options: configuration.consumer)
        publisher = try EventPublisher(
            da: da, namespace: configuration.namespace, publisherID: configuration.publisherID,
            options: configuration.publisher, journal: outbox, logger: Self.componentLogger(logger, "publisher"))
        intake = Intake(
            consumer: consumer, publisher: publisher, outbox: outbox, lifecycle: lifecycle, metrics: metrics,
            configuration: configuration, logger: Self.componentLogger(logger, "intake"))
        placementEvaluator = PolicyEvaluator(threads: 1)
        previewEvaluator = PolicyEvaluator(threads: configuration.api.previewConcurrency)
        previewAdmission = PreviewAdmission(
            limit: configuration.api.previewConcurrency + configuration.api.maxQueuedPreviews,
            perClient: configuration.api.maxPreviewsPerClient)
        placement = PlacementLoop(
            consumer: consumer, publisher: publisher, lifecycle: lifecycle, metrics: metrics,
            configuration: configuration, evaluator: placementEvaluator, intake: intake, library: policies,
            logger: Self.componentLogger(logger, "placement"))
        if outbox.tornBytesCut > 0 {
            logger.warning("outbox: cut a torn tail", metadata: ["bytes": "\(outbox.tornBytesCut)"])
        }
    }

    private static func componentLogger(_ base: Logger, _ component: String) -> Logger {
        var logger = base
        logger[metadataKey: "component"] = "\(component)"
        return logger
    }

    // MARK: - Composition

    /// The coordinator's services in start order, then the first start and `others` (the HTTP API), in one group
    /// (see the type's documentation). Run it once; the data directory's lock is released when it ends.
    public func serviceGroup(
        with others: [any Service] = [], gracefulShutdownSignals: [UnixSignal] = []
    ) -> CoordinatorGroup {
        func core(_ service: any Service) -> ServiceGroupConfiguration.ServiceConfiguration {
            // A core service that ends or fails on its own stops the whole coordinator, in order.
            .init(
                service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup
            )
        }
        let services =
            [
                core(ConsumerService(consumer: consumer, lifecycle: lifecycle, logger: Self.componentLogger(logger, "consumer"))),
                core(
                    PublisherService(
                        publisher: publisher, finalFlushTimeout: configuration.finalFlushTimeout,
                        logger: Self.componentLogger(logger, "publisher"))),
                core(IntakeService(intake: intake, lifecycle: lifecycle, logger: Self.componentLogger(logger, "intake"))),
                core(PlacementService(loop: placement, node: self)),
            ]
            + [
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: FirstStartService(node: self, logger: Self.componentLogger(logger, "first-start")),
                    successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
            ]
            + others.map {
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
            }
            + [core(ShutdownGate(lifecycle: lifecycle, intake: intake))]
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: gracefulShutdownSignals, cancellationSignals: [],
                logger: logger))
        return CoordinatorGroup(node: self, group: group)
    }

    fileprivate func finish() {
        lock.release()
        lifecycle.markStopped()
    }

    // MARK: - What the API asks

    /// The current phase.
    public var phase: Phase { lifecycle.phase }
    /// Why the coordinator failed, when it did.
    public var failure: String? { lifecycle.failure }

    /// Suspends until the coordinator is ready (or stopping).
    public func waitUntilReady() async { await lifecycle.waitUntilReady() }

    /// Accepts events from an operator or client (see ``Intake/submit(_:waitForInclusion:)``).
    public func submit(_ events: [Event], waitForInclusion: Bool) async throws -> Acceptance {
        try await intake.submit(events, waitForInclusion: waitForInclusion)
    }

    /// A point-in-time status for `/v1/state`: the summary and checksum belong to `appliedHeight`.
    public func status() async -> CoordinatorStatus {
        let view = await consumer.view()
        return CoordinatorStatus(
            phase: phase, failure: failure, publisherID: configuration.publisherID,
            namespace: configuration.namespace.description, appliedHeight: view.appliedHeight,
            head: view.head, consumerHealth: view.health, summary: view.state.summary(), cursor: view.state.cursor,
            publisherSequence: await publisher.lastSequence, publishBacklog: await publisher.backlog,
            outboxEvents: outbox.outstandingCount, publisherHalted: await publisher.halted?.description,
            placements: await placement.counters, recovery: await intake.recoveryCounters,
            policy: view.state.placementPolicy?.label, shadowPolicy: view.state.shadowPolicy?.label)
    }

    /// What `/health` reports: cheap, no pass over the state.
    public func health() async -> CoordinatorHealth {
        CoordinatorHealth(
            phase: phase, failure: failure, appliedHeight: await consumer.appliedHeight, head: await consumer.head,
            consumerHealth: await consumer.health, publishBacklog: await publisher.backlog,
            publisherHalted: await publisher.halted?.description, lastPolicyError: await placement.counters.lastPolicyError,
            outboxFailure: await publisher.journalFailure?.message, publisherDegraded: await publisher.submitTrouble?.message,
            da: await da.health())
    }

    /// The current derived state (a value; readers may keep it).
    public func snapshot() async -> DerivedState { await consumer.snapshot() }

    /// Brings the metrics up to date.
    public func refreshMetrics() async {
        metrics.refresh(
            consumer: await consumer.counters, cursor: await consumer.cursor, publisher: await publisher.counters,
            backlog: await publisher.backlog, appliedHeight: await consumer.appliedHeight, head: await consumer.head)
    }
}

/// The liveness and readiness of a running coordinator.
public struct CoordinatorHealth: Sendable {
    /// The phase.
    public var phase: CoordinatorNode.Phase
    /// Why it failed, if it did.
    public var failure: String?
    /// The last applied DA height.
    public var appliedHeight: UInt64
    /// The newest DA height seen.
    public var head: UInt64
    /// The consumer's health.
    public var consumerHealth: DAConsumer.Health
    /// Events accepted and not yet included.
    public var publishBacklog: Int
    /// Why publishing stopped, if it did.
    public var publisherHalted: String?
    /// The last policy error, if any.
    public var lastPolicyError: String?

    /// Heights not yet applied.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }
    /// Why the outbox cannot record, if it cannot.
    public var outboxFailure: String?
    /// Why submits to the DA fail while they are retried, if they do.
    public var publisherDegraded: String?
    /// The DA backend's own health.
    public var da: DAHealth
    /// Ready, following the DA, publishing, recording, and the DA ready.
    public var isHealthy: Bool {
        phase == .ready && consumerHealth.isHealthy && publisherHalted == nil && outboxFailure == nil && publisherDegraded == nil
            && da.isReady
    }
}

/// A status snapshot of a running coordinator.
public struct CoordinatorStatus: Sendable {
    /// The phase.
    public var phase: CoordinatorNode.Phase
    /// Why it failed, if it did.
    public var failure: String?
    /// This coordinator's publisher id.
    public var publisherID: String
    /// The namespace, hex.
    public var namespace: String
    /// The last applied DA height.
    public var appliedHeight: UInt64
    /// The newest DA height seen.
    public var head: UInt64
    /// The consumer's health.
    public var consumerHealth: DAConsumer.Health
    /// State counts and checksum.
    public var summary: StateSummary
    /// Delivery counters.
    public var cursor: DeliveryCursor
    /// The last sequence this coordinator published.
    public var publisherSequence: UInt64
    /// Events accepted and not yet included.
    public var publishBacklog: Int
    /// Events in the durable outbox.
    public var outboxEvents: Int
    /// Why publishing stopped (a DA refusal retrying cannot fix), if it did; a restart resumes it.
    public var publisherHalted: String?
    /// Scheduling counters.
    public var placements: PlacementCounters
    /// Recovery of refused own blobs.
    public var recovery: RecoveryCounters
    /// The placement policy active at `appliedHeight`, `name@version`.
    public var policy: String?
    /// The shadow policy active at `appliedHeight`, `name@version`.
    public var shadowPolicy: String?

    /// Heights not yet applied.
    public var lag: UInt64 { head > appliedHeight ? head - appliedHeight : 0 }
}

/// The coordinator's service group: runs it, and releases the data directory's lock once every service
/// has ended, whichever way the group ended.
public struct CoordinatorGroup: Sendable {
    let node: CoordinatorNode
    let group: ServiceGroup

    /// Runs every service until the group ends; throws the first error a service threw.
    public func run() async throws {
        defer { node.finish() }
        try await group.run()
    }

    /// Starts a graceful shutdown (as SIGTERM does) and returns at once.
    public func triggerGracefulShutdown() async { await group.triggerGracefulShutdown() }
}
