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
    public struct Mismatch: Error, Sendable, Hashable, CustomStringConvertible {
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
        // Every decision that names the version active here re-executes in one batch: one warm state
        // per snapshot, as the scheduling loop decided them.
        var runnable: [(decision: Decision, request: ChunkRequest)] = []
        var resolved: Result<ResolvedPolicy, PolicyError>?
        for decision in decisions {
            report.decisionsChecked += 1
            switch precheck(decision, state: state) {
            case let .failure(mismatch): record(mismatch)
            case let .success((info, request)):
                if resolved == nil { resolved = Result { () throws(PolicyError) in try library.resolve(info) } }
                runnable.append((decision, request))
            }
        }
        guard let resolved, !runnable.isEmpty else { return }
        let policy: ResolvedPolicy
        switch resolved {
        case let .success(value): policy = value
        case let .failure(error):
            for item in runnable {
                record(Mismatch(decision: item.decision, expected: nil, reason: "\(policyLabel(item.decision)) cannot decide: \(error)"))
            }
            return
        }
        let inputs = DecisionInputs(nodes: state.allNodes(), zones: state.zones())
        let outcomes: [Result<PlacementDecision, PolicyError>]
        do {
            outcomes = try Scheduler.place(
                runnable.map(\.request), inputs: inputs, policy: policy.policy, overrides: policy.overrides, explain: false)
        } catch {
            for item in runnable { record(Mismatch(decision: item.decision, expected: nil, reason: "re-executing failed: \(error)")) }
            return
        }
        for (item, outcome) in zip(runnable, outcomes) {
            let decision = item.decision
            switch outcome {
            case let .failure(error):
                record(Mismatch(decision: decision, expected: nil, reason: "re-executing failed: \(error)"))
            case let .success(result):
                if result.inputDigest != decision.provenance.inputDigest {
                    record(
                        Mismatch(
                            decision: decision, expected: result.chosen, reason: "its input digest differs from the inputs at its snapshot")
                    )
                } else if decision.nodes.count > result.chosen.count || Array(result.chosen.prefix(decision.nodes.count)) != decision.nodes
                {
                    record(Mismatch(decision: decision, expected: result.chosen, reason: "other nodes than the recorded version chooses"))
                } else {
                    report.matching += 1
                }
            }
        }
    }

    private mutating func record(_ mismatch: Mismatch) {
        report.mismatchCount += 1
        if mismatch.decision.provenance.context?.engine != engine { report.mismatchesWithOtherEngine += 1 }
        if report.firstMismatches.count < Self.keptMismatches { report.firstMismatches.append(mismatch) }
    }

    private func policyLabel(_ decision: Decision) -> String {
        "\(decision.provenance.policyName)@\(decision.provenance.policyVersion)"
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

    /// What a decision needs before it can run: its version active and as recorded at its snapshot,
    /// and its chunk declared there.
    private func precheck(_ decision: Decision, state: DerivedState) -> Result<(PolicyVersionInfo, ChunkRequest), Mismatch> {
        let recorded = decision.provenance
        func failure(_ reason: String) -> Result<(PolicyVersionInfo, ChunkRequest), Mismatch> {
            .failure(Mismatch(decision: decision, expected: nil, reason: reason))
        }
        let label = policyLabel(decision)
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
        return .success((info, request))
    }
}
