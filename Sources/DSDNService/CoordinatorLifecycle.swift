import ServiceLifecycle
import Synchronization

/// Where a coordinator is in its life, shared by its services: the intake moves it to `ready` after
/// start-up, to `stopping` on graceful shutdown, and any service to `failed` when it stops for good.
public final class CoordinatorLifecycle: Sendable {
    /// Where the coordinator is in its life.
    public enum Phase: String, Sendable {
        /// Catching up with the DA and draining the outbox: reads work, submissions are refused.
        case starting
        /// Serving.
        case ready
        /// Shutting down: submissions are refused.
        case stopping
        /// Stopped after an error the coordinator cannot fix by retrying (see ``failure``).
        case failed
        /// Stopped.
        case stopped
    }

    private struct State: ~Copyable {
        var phase: Phase = .starting
        var failure: String?
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]  // lookup only; resumed all at once
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    init() {}

    /// The current phase.
    public var phase: Phase { state.withLock { $0.phase } }
    /// Why the coordinator failed, when it did.
    public var failure: String? { state.withLock { $0.failure } }

    func markReady() { move { $0.phase == .starting ? .ready : nil } }

    func markStopping() { move { $0.phase == .starting || $0.phase == .ready ? .stopping : nil } }

    func markFailed(_ why: String) {
        move { state in
            guard state.phase != .failed else { return nil }
            state.failure = why
            return .failed
        }
    }

    func markStopped() { move { $0.phase == .failed ? nil : .stopped } }

    /// Suspends until the coordinator has left the starting phase (ready, or stopping or failed first).
    /// Returns early, without error, when the waiting task is cancelled.
    public func waitUntilReady() async {
        let key = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.phase != .starting || Task.isCancelled { return true }
                    state.waiters[key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: key) }?.resume()
        }
    }

    /// Applies a transition (`nil`: none) and wakes the waiters when the phase left `starting`.
    private func move(_ transition: (inout State) -> Phase?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let next = transition(&state) else { return [] }
            state.phase = next
            let waiting = Array(state.waiters.values)
            state.waiters = [:]
            return waiting
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// The first service told to stop (it is the last in the group): it moves the coordinator to
/// `stopping` and answers every caller still waiting for inclusion, before the API, the first start, the
/// scheduling loop and the publisher wind down.
struct ShutdownGate: Service {
    let lifecycle: CoordinatorLifecycle
    let intake: Intake

    func run() async throws {
        // Returns on graceful shutdown, throws when the group is cancelled: either way, stop taking events.
        try? await gracefulShutdown()
        lifecycle.markStopping()
        await intake.stop()
    }
}
