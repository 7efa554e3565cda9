import DSDNCore
import DSDNScheduler
import NIOPosix
import Synchronization

/// Threads of their own for policy evaluation. A decision is synchronous and can take tens of
/// milliseconds (a large cluster, a costly policy); run on Swift's cooperative pool it would hold one of
/// its few threads, and `/health`, the consumer and every request would wait behind it. Here the caller
/// suspends instead, and a waiting evaluation whose task is cancelled is dropped before it starts.
public final class PolicyEvaluator: Sendable {
    private let pool: NIOThreadPool
    private let inFlight = Atomic<Int>(0)

    /// Starts `threads` evaluation threads (at least one).
    public init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    deinit { pool.shutdownGracefully { _ in } }

    /// Decisions for many chunks against one snapshot in one evaluation: API level 2 prepares one warm
    /// sandbox for all of them; level 1 gives each a fresh one. No explanations are built.
    /// `shouldStop` (read on the evaluation thread before each decision) ends it early, as does the
    /// cancellation of the waiting task: the decisions made so far are returned.
    public func place(
        _ chunks: [ChunkRequest], inputs: DecisionInputs, policy: Policy, overrides: [(String, ParameterValue)],
        shouldStop: @escaping @Sendable () -> Bool = { false }
    ) async throws(PolicyEvaluationError) -> [Result<PlacementDecision, PolicyError>] {
        let cancelled = StopFlag()
        let evaluation: Result<Result<[Result<PlacementDecision, PolicyError>], PolicyError>, PolicyEvaluationError> =
            await withTaskCancellationHandler {
                do throws(PolicyEvaluationError) {
                    return .success(
                        try await run {
                            Result { () throws(PolicyError) in
                                try Scheduler.place(
                                    chunks, inputs: inputs, policy: policy, overrides: overrides, explain: false,
                                    shouldStop: { cancelled.isSet || shouldStop() })
                            }
                        })
                } catch {
                    return .failure(error)
                }
            } onCancel: {
                cancelled.set()
            }
        let outcome = try evaluation.get()
        switch outcome {
        case let .success(decisions): return decisions
        case let .failure(error): throw .policy(error)
        }
    }

    /// Evaluations submitted and not yet finished (running or waiting for a thread).
    public var pending: Int { inFlight.load(ordering: .relaxed) }

    /// Runs `body` on an evaluation thread; `.cancelled` when the task was cancelled before it ran.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws(PolicyEvaluationError) -> T {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        do {
            return try await pool.runIfActive(body)
        } catch {
            throw .cancelled
        }
    }
}

/// A flag set once, from any thread.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Why an evaluation gave no decision.
public enum PolicyEvaluationError: Error, Sendable {
    /// The policy failed or misbehaved.
    case policy(PolicyError)
    /// The waiting task was cancelled (shutdown) before the evaluation ran.
    case cancelled
}

/// Admission for previews: at most `running + queued` previews at once, and at most `perClient` from
/// one client. A refused preview is answered 429 at once instead of queueing without bound.
public final class PreviewAdmission: Sendable {
    private struct Counts {
        var total = 0
        var perClient: [String: Int] = [:]  // lookup only; never iterated for output
    }

    private let limit: Int
    private let perClientLimit: Int
    private let counts = Mutex(Counts())

    /// Admits at most `limit` previews at once, `perClient` of them from one client.
    public init(limit: Int, perClient: Int) {
        self.limit = max(1, limit)
        perClientLimit = max(1, perClient)
    }

    /// Why a preview was not admitted.
    public enum Refusal: Sendable, Hashable {
        /// Every slot is taken.
        case busy
        /// This client has its share running or waiting.
        case clientLimit
    }

    /// Takes a slot for `client`, or says why not. A taken slot must be given back with ``release(_:)``.
    public func admit(_ client: String) -> Refusal? {
        counts.withLock { counts in
            guard counts.total < limit else { return .busy }
            let current = counts.perClient[client, default: 0]
            guard current < perClientLimit else { return .clientLimit }
            counts.total += 1
            counts.perClient[client] = current + 1
            return nil
        }
    }

    /// Gives back a slot `client` took.
    public func release(_ client: String) {
        counts.withLock { counts in
            counts.total -= 1
            let remaining = counts.perClient[client, default: 1] - 1
            counts.perClient[client] = remaining > 0 ? remaining : nil
        }
    }

    /// Previews admitted and not yet released.
    public var inUse: Int { counts.withLock { $0.total } }
}
