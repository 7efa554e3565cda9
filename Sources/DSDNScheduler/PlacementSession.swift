import DSDNCore
import LuaSandbox

/// One snapshot's decisions, made one at a time on the calling thread: API level 2 prepares the snapshot
/// once in a warm sandbox, level 1 runs each decision in a fresh one. The caller times or explains each
/// decision as it likes (experiments and simulations), where `Scheduler.place` decides a whole batch.
///
/// Not `Sendable`: create and use it inside `PolicySandbox.withLargeStack`.
public final class PlacementSession {
    /// The policy.
    public let policy: Policy
    /// The snapshot's inputs.
    public let inputs: DecisionInputs
    private let parameters: [(name: String, value: ParameterValue)]
    private let warm: WarmPlacement?

    /// Prepares `inputs` for `policy` with `overrides` of its declared parameters.
    public init(policy: Policy, overrides: [(String, ParameterValue)], inputs: DecisionInputs) throws(PolicyError) {
        self.policy = policy
        self.inputs = inputs
        parameters = try policy.parameters(overriding: overrides)
        warm = policy.apiLevel >= 2 ? WarmPlacement(policy: policy, parameters: parameters, inputs: inputs) : nil
    }

    /// Instructions and peak memory the preparation used (0 at API level 1).
    public var prepareInstructions: UInt64 { warm?.prepareInstructions ?? 0 }
    /// See `prepareInstructions`.
    public var preparePeakMemory: UInt64 { warm?.preparePeakMemory ?? 0 }

    /// Decides one chunk against the snapshot; `explain` builds every node's verdict.
    public func decide(_ chunk: ChunkRequest, explain: Bool) -> Result<PlacementDecision, PolicyError> {
        if let warm { return warm.decide(chunk, explain: explain) }
        return Scheduler.decide(chunk, inputs: inputs, policy: policy, parameters: parameters, explain: explain)
    }
}

extension PlacementSession {
    /// Runs `body` on a thread with the stack policies need (sessions are made and used inside it).
    public static func onEvaluationThread<T>(_ body: () -> T) -> T { PolicySandbox.withLargeStack(body) }
}
