import CoreMetrics
import DSDNCore
import DSDNRuntime
import DSDNScheduler
import Metrics
import Prometheus
import Synchronization

/// The coordinator's metrics, recorded through swift-metrics into a Prometheus registry of its own (no
/// global bootstrap, so several coordinators can live in one process, as in the tests).
///
/// Counters that the runtime already keeps (events applied, blobs rejected, publisher attempts) are
/// brought up to date by ``refresh(consumer:publisher:appliedHeight:head:)`` at every scrape and every
/// applied height: the metric is increased by the difference since the last refresh.
public final class CoordinatorMetrics: Sendable {
    /// The registry `GET /metrics` renders.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private let eventsApplied: CoreMetrics.Counter
    private let blobsApplied: CoreMetrics.Counter
    private let blobsDuplicate: CoreMetrics.Counter
    private let rejected: [RejectionReason: CoreMetrics.Counter]
    private let daErrors: CoreMetrics.Counter
    private let appliedHeight: CoreMetrics.Gauge
    private let daHead: CoreMetrics.Gauge
    private let daLag: CoreMetrics.Gauge
    private let publishBacklog: CoreMetrics.Gauge
    private let blobsPublished: CoreMetrics.Counter
    private let submitFailures: CoreMetrics.Counter
    private let backpressure: CoreMetrics.Counter
    /// Time from acceptance to DA inclusion of an API submission.
    let publishLatency: CoreMetrics.Timer
    /// Replica placements published by the scheduling loop.
    let placements: CoreMetrics.Counter
    /// Placements the state machine dropped because an earlier one won (first-wins).
    private let placementsSuperseded: CoreMetrics.Counter
    /// Policy evaluations that failed (error, budget, invalid result).
    let policyErrors: CoreMetrics.Counter
    private let last: Mutex<Snapshot>

    private struct Snapshot {
        var eventsApplied: UInt64 = 0
        var blobsApplied: UInt64 = 0
        var blobsDuplicate: UInt64 = 0
        var rejected: [UInt64] = Array(repeating: 0, count: 8)
        var daErrors: UInt64 = 0
        var blobsPublished: UInt64 = 0
        var submitFailures: UInt64 = 0
        var backpressure: UInt64 = 0
        var superseded: UInt64 = 0
    }

    /// Creates the metrics in a fresh registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        eventsApplied = CoreMetrics.Counter(label: "dsdn_events_applied_total", factory: factory)
        blobsApplied = CoreMetrics.Counter(label: "dsdn_blobs_applied_total", factory: factory)
        blobsDuplicate = CoreMetrics.Counter(label: "dsdn_blobs_duplicate_total", factory: factory)
        var rejected: [RejectionReason: CoreMetrics.Counter] = [:]
        for reason in RejectionReason.allCases {
            rejected[reason] = CoreMetrics.Counter(
                label: "dsdn_blobs_rejected_total", dimensions: [("reason", "\(reason)")], factory: factory)
        }
        self.rejected = rejected
        daErrors = CoreMetrics.Counter(label: "dsdn_da_errors_total", factory: factory)
        appliedHeight = CoreMetrics.Gauge(label: "dsdn_da_applied_height", factory: factory)
        daHead = CoreMetrics.Gauge(label: "dsdn_da_head_height", factory: factory)
        daLag = CoreMetrics.Gauge(label: "dsdn_da_lag_heights", factory: factory)
        publishBacklog = CoreMetrics.Gauge(label: "dsdn_publish_backlog_events", factory: factory)
        blobsPublished = CoreMetrics.Counter(label: "dsdn_blobs_published_total", factory: factory)
        submitFailures = CoreMetrics.Counter(label: "dsdn_da_submit_failures_total", factory: factory)
        backpressure = CoreMetrics.Counter(label: "dsdn_publish_backpressure_total", factory: factory)
        publishLatency = CoreMetrics.Timer(label: "dsdn_publish_latency_seconds", factory: factory)
        placements = CoreMetrics.Counter(label: "dsdn_placements_total", factory: factory)
        placementsSuperseded = CoreMetrics.Counter(label: "dsdn_placements_superseded_total", factory: factory)
        policyErrors = CoreMetrics.Counter(label: "dsdn_policy_errors_total", factory: factory)
        last = Mutex(Snapshot())
    }

    /// Brings the runtime-kept counters and the gauges up to date.
    func refresh(
        consumer: DAConsumer.Counters, cursor: DeliveryCursor, publisher: EventPublisher.Counters, backlog: Int,
        appliedHeight: UInt64, head: UInt64
    ) {
        self.appliedHeight.record(Int64(clamping: appliedHeight))
        daHead.record(Int64(clamping: head))
        daLag.record(Int64(clamping: head > appliedHeight ? head - appliedHeight : 0))
        publishBacklog.record(Int64(backlog))
        last.withLock { last in
            func bump(_ counter: CoreMetrics.Counter, _ previous: inout UInt64, _ now: UInt64) {
                if now > previous { counter.increment(by: Int64(clamping: now - previous)) }
                previous = now
            }
            bump(eventsApplied, &last.eventsApplied, cursor.eventsApplied)
            bump(blobsApplied, &last.blobsApplied, cursor.blobsApplied)
            bump(blobsDuplicate, &last.blobsDuplicate, cursor.blobsDuplicate)
            for reason in RejectionReason.allCases {
                if let counter = rejected[reason] {
                    bump(counter, &last.rejected[Int(reason.rawValue)], cursor.rejections(reason))
                }
            }
            bump(daErrors, &last.daErrors, consumer.daErrors)
            bump(blobsPublished, &last.blobsPublished, publisher.blobsPublished)
            bump(submitFailures, &last.submitFailures, publisher.submitFailures)
            bump(backpressure, &last.backpressure, publisher.backpressureRefusals)
            bump(placementsSuperseded, &last.superseded, cursor.placementsSuperseded)
        }
    }

    /// Counts one shadow verdict: `dsdn_shadow_decisions_total{version, outcome}` with outcome `agree`,
    /// `disagree` or `failure`.
    func shadowDecision(version: String, verdict: ShadowVerdict) {
        let outcome =
            switch verdict {
            case .agree: "agree"
            case .disagree: "disagree"
            case .failed: "failure"
            }
        CoreMetrics.Counter(
            label: "dsdn_shadow_decisions_total", dimensions: [("version", version), ("outcome", outcome)], factory: factory
        )
        .increment()
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String { registry.emitToString() }
}
