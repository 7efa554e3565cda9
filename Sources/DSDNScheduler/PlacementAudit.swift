import DSDNCore

/// Re-executes recorded placements (docs/policies.md §11.6). Two passes over the same history:
/// `collect` reads every applied blob and groups its placements into decisions (one chunk, one input
/// digest, one snapshot height); `check`, called with the state right after each height is applied,
/// re-runs the decisions whose snapshot is that height with the version, source and parameters the
/// registry had there, and compares. Memory grows with the number of decisions, not with the history.
public struct PlacementAudit: Sendable {
    /// One recorded decision: the replicas one coordinator placed for one chunk from one snapshot.
    public struct Decision: Sendable, Hashable {
        /// Where its first event was: height and blob index.
        public var position: BlobPosition
        /// The chunk.
        public var chunk: Hash256
        /// The provenance its events carry (with its context).
        public var provenance: PlacementProvenance
        /// The nodes it placed, in the order of its events.
        public var nodes: [String]
    }

    /// A decision that re-executed differently, or could not be re-executed as recorded.
    public struct Mismatch: Sendable, Hashable, CustomStringConvertible {
        /// The recorded decision.
        public var decision: Decision
        /// What the recorded version chose when re-executed (when it ran).
        public var expected: [String]?
        /// Why it does not match.
        public var reason: String

        /// One line: where, which chunk and version, and both answers.
        public var description: String {
            let provenance = decision.provenance
            let snapshot = provenance.context.map { " snapshot \($0.snapshotHeight)" } ?? ""
            let answers =
                expected.map { "; recorded [\(decision.nodes.joined(separator: ", "))], re-executed [\($0.joined(separator: ", "))]" } ?? ""
            return
                "height \(decision.position.height)/\(decision.position.index) chunk \(decision.chunk) \(provenance.policyName)@\(provenance.policyVersion)\(snapshot): \(reason)\(answers)"
        }
    }

    /// The outcome.
    public struct Report: Sendable, Hashable {
        /// Decisions re-executed or checked.
        public var decisionsChecked = 0
        /// Decisions that matched.
        public var matching = 0
        /// Decisions that did not match, in all.
        public var mismatchCount = 0
        /// The first mismatches, in history order.
        public var firstMismatches: [Mismatch] = []
        /// Placements (events) whose provenance has no context: recorded before the policy registry,
        /// they cannot be re-executed.
        public var placementsWithoutContext = 0
        /// `ReplicaAdded` events without provenance: announcements, not decisions.
        public var replicasWithoutProvenance = 0
        /// Decisions whose recorded engine differs from the auditing one, among the mismatches.
        public var mismatchesWithOtherEngine = 0
    }

    /// How many mismatches the report keeps.
    public static let keptMismatches = 20

    private var pending: [UInt64: [Decision]] = [:]  // by snapshot height; lookup only
    private var open: [DecisionKey: Int] = [:]  // the decision a placement belongs to, within its blob; lookup only
    /// The result so far.
    public private(set) var report = Report()
    /// The engine doing the audit (`dsdn-coordinator …; Lua …`).
    public let engine: String

    private struct DecisionKey: Hashable {
        var snapshot: UInt64
        var chunk: Hash256
        var inputDigest: Hash256
    }

    /// An audit by `engine`.
    public init(engine: String) { self.engine = engine }

    /// Decisions collected and not yet checked.
    public var pendingCount: Int { pending.values.reduce(0) { $0 + $1.count } }

    // MARK: Pass 1

    /// Records the placements of one applied blob at `position`.
    public mutating func collect(_ events: [Event], at position: BlobPosition) {
        open.removeAll(keepingCapacity: true)
        for event in events {
            guard case let .replicaAdded(chunk, node, _, _, provenance) = event else { continue }
            guard let provenance else {
                report.replicasWithoutProvenance += 1
                continue
            }
            guard let context = provenance.context else {
                report.placementsWithoutContext += 1
                continue
            }
            let key = DecisionKey(snapshot: context.snapshotHeight, chunk: chunk, inputDigest: provenance.inputDigest)
            if let index = open[key], pending[context.snapshotHeight]?[index].provenance == provenance {
                pending[context.snapshotHeight]?[index].nodes.append(node)
            } else {
                pending[context.snapshotHeight, default: []].append(
                    Decision(position: position, chunk: chunk, provenance: provenance, nodes: [node]))
                open[key] = (pending[context.snapshotHeight]?.count ?? 1) - 1
            }
        }
    }

    // MARK: Pass 2

    /// Re-executes the decisions whose snapshot is `height`, against `state` (the state right after
    /// `height` was applied). Compiles each version once through `library`.
    public mutating func check(height: UInt64, state: DerivedState, library: PolicyLibrary) {
        guard let decisions = pending.removeValue(forKey: height) else { return }
        let inputs = DecisionInputs(nodes: state.allNodes(), zones: state.zones())
        for decision in decisions {
            report.decisionsChecked += 1
            if let reason = mismatch(decision, state: state, inputs: inputs, library: library) {
                report.mismatchCount += 1
                if decision.provenance.context?.engine != engine { report.mismatchesWithOtherEngine += 1 }
                if report.firstMismatches.count < Self.keptMismatches { report.firstMismatches.append(reason) }
            } else {
                report.matching += 1
            }
        }
    }

    /// Decisions whose snapshot height was never reached (beyond the audited range): counted as
    /// mismatches, since nothing could confirm them.
    public mutating func finish() {
        for height in pending.keys.sorted() {
            for decision in pending[height] ?? [] {
                report.decisionsChecked += 1
                report.mismatchCount += 1
                if report.firstMismatches.count < Self.keptMismatches {
                    report.firstMismatches.append(
                        Mismatch(decision: decision, expected: nil, reason: "its snapshot height \(height) is not in the audited history"))
                }
            }
        }
        pending = [:]
    }

    private func mismatch(
        _ decision: Decision, state: DerivedState, inputs: DecisionInputs, library: PolicyLibrary
    ) -> Mismatch? {
        let recorded = decision.provenance
        func failure(_ reason: String, expected: [String]? = nil) -> Mismatch {
            Mismatch(decision: decision, expected: expected, reason: reason)
        }
        let label = "\(recorded.policyName)@\(recorded.policyVersion)"
        guard let active = state.placementPolicy, active.name == recorded.policyName, active.version == recorded.policyVersion else {
            return failure(
                "\(label) was not the active placement policy at its snapshot (active: \(state.placementPolicy?.label ?? "none"))")
        }
        guard let info = state.policyVersion(recorded.policyName, recorded.policyVersion) else {
            return failure("\(label) is not published at its snapshot")
        }
        guard info.release.sourceHash == recorded.policySourceHash else {
            return failure("its source hash is not the one \(label) was published with")
        }
        guard info.parametersDigest == recorded.context?.parametersDigest else {
            return failure("its parameter digest is not the one \(label) had at its snapshot")
        }
        guard let request = ChunkRequest(chunk: decision.chunk, in: state) else {
            return failure("the chunk was not declared at its snapshot")
        }
        let resolved: ResolvedPolicy
        do {
            resolved = try library.resolve(info)
        } catch {
            return failure("\(label) cannot decide: \(error)")
        }
        let outcome: PlacementDecision
        do {
            outcome = try Scheduler.place(request, inputs: inputs, policy: resolved.policy, overrides: resolved.overrides, explain: false)
        } catch {
            return failure("re-executing failed: \(error)")
        }
        guard outcome.inputDigest == recorded.inputDigest else {
            return failure("its input digest differs from the inputs at its snapshot", expected: outcome.chosen)
        }
        guard decision.nodes.count <= outcome.chosen.count, Array(outcome.chosen.prefix(decision.nodes.count)) == decision.nodes else {
            return failure("other nodes than the recorded version chooses", expected: outcome.chosen)
        }
        return nil
    }
}
