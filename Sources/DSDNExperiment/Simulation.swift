import DSDNCore
import DSDNScheduler
import DSDNSimulation

/// A simulated recorded history: a seeded workload (`Workload`) whose placements and repairs a policy
/// makes, height by height, as a coordinator would: the policy is published and activated at height 1,
/// each height's state is decided in one round, and the round's placements (with full provenance, so
/// `audit` re-executes them) open the next height.
public struct Simulation {
    /// A named size.
    public struct Preset: Hashable, Sendable {
        /// Its name.
        public var name: String
        /// Storage nodes.
        public var nodes: Int
        /// Zones.
        public var zones: Int
        /// Events in the history.
        public var events: Int
        /// Workload events per height (placements come on top).
        public var eventsPerHeight: Int

        /// Seconds: 50 nodes, 5 zones, 5,000 events.
        public static let small = Preset(name: "small", nodes: 50, zones: 5, events: 5_000, eventsPerHeight: 25)
        /// About a minute: 500 nodes, 10 zones, 100,000 events.
        public static let medium = Preset(name: "medium", nodes: 500, zones: 10, events: 100_000, eventsPerHeight: 250)
        /// Minutes: 5,000 nodes, 20 zones, 1,000,000 events.
        public static let large = Preset(name: "large", nodes: 5_000, zones: 20, events: 1_000_000, eventsPerHeight: 500)
        /// Every preset.
        public static let all = [small, medium, large]
    }

    /// Fill, in percent, the capacities are sized for if nothing failed or left.
    public static let targetPercent: UInt64 = 60

    private var workload: Workload
    private let target: Int
    private let release: PolicyRelease
    private var machine = StateMachine()
    private var arm: PlacementArm?
    private var resolved: ResolvedPolicy?
    private var pending: [Event] = []
    private let engine: String
    /// The heights written so far.
    public private(set) var height: UInt64 = 0
    /// The events written so far.
    public private(set) var written = 0

    /// A history of `preset`'s shape (its size overridable) placed by `release`.
    public init(preset: Preset, seed: UInt64, release: PolicyRelease, engine: String) {
        let share = Workload.workloadShare
        let workloadEvents = max(1, preset.events * share.numerator / share.denominator)
        // Capacity for the stored bytes at `targetPercent` on the 80 % of nodes that register first.
        let stored = UInt64(preset.events) * Workload.storedBytesPerEvent
        let meanCapacity = stored / UInt64(preset.nodes) * 100 / Self.targetPercent * 10 / 8
        workload = Workload(
            .init(
                seed: seed, nodes: preset.nodes, zones: preset.zones, eventsPerHeight: preset.eventsPerHeight,
                expectedHeights: max(1, workloadEvents / max(1, preset.eventsPerHeight)), meanCapacityBytes: meanCapacity))
        target = preset.events
        self.release = release
        self.engine = engine
    }

    /// The events of every height written, out of `target`.
    public var progress: (written: Int, target: Int) { (written, target) }

    /// The next height's events, or `nil` once the history has its events. Throws when the policy
    /// cannot be compiled or a state refuses an event (a defect).
    public mutating func nextHeight() throws(ExperimentError) -> [Event]? {
        // Once the history has its events, one last height lands the last round's placements, so every
        // decision made is in the history.
        guard written < target else {
            guard !pending.isEmpty else { return nil }
            height += 1
            defer { pending = [] }
            written += pending.count
            return pending
        }
        height += 1
        var events = pending
        if height == 1 {
            events = [.policyPublished(release), .policyActivated(name: release.name, version: release.version, role: .placement)]
        }
        let workloadEvents = workload.nextHeight()
        events += workloadEvents
        written += events.count
        // The round's placements are applied by the arm as it makes them; the rest applies here.
        let toApply = height == 1 ? events : workloadEvents
        do {
            if let arm {
                try arm.apply(toApply, withReplicas: true)
            } else {
                try machine.apply(events: toApply)
            }
        } catch {
            throw ExperimentError(.refused, "simulated height \(height): \(error.message)")
        }
        pending = []
        if arm == nil {
            guard let info = machine.state.policyVersion(release.name, release.version) else {
                throw ExperimentError(.refused, "simulated height 1: \(release.label) was not published")
            }
            let library = PolicyLibrary()
            let resolution = PlacementSession.onEvaluationThread { Result { () throws(PolicyError) in try library.resolve(info) } }
            switch resolution {
            case let .success(value): resolved = value
            case let .failure(error): throw ExperimentError(.refused, "\(release.label) cannot decide: \(error)")
            }
            arm = PlacementArm(label: release.label, decider: .policy(resolved.unsafelyUnwrapped), state: machine)
        }
        guard let arm, let resolved else { return events }
        let work = arm.work(limit: Experiment.defaultRoundLimit)
        guard !work.isEmpty else { return events }
        let decisions = PlacementSession.onEvaluationThread { Experiment.decide(work, arm: arm, resolved: resolved).1 }
        do {
            pending = try arm.commit(decisions, height: height, nowMillis: workload.clockMillis, engine: engine)
        } catch {
            throw ExperimentError(.refused, "simulated height \(height): a placement was refused: \(error.message)")
        }
        return events
    }

    /// The placing policy's decisions so far: all of them, those that placed fewer replicas than
    /// wanted, and those that failed.
    public var decisionCounts: (decisions: UInt64, unplaceable: UInt64, failed: UInt64) {
        guard let counters = arm?.counters else { return (0, 0, 0) }
        return (counters.decisions, counters.unplaceable, counters.failed)
    }
}
