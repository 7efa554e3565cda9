import Synchronization

/// A lock for async code: one holder at a time, waiters served in arrival order, nobody blocked while
/// waiting (the waiting task suspends). Used where an actor must not interleave one operation with the
/// next across its suspension points (the publisher's drains, the Celestia client's submits).
public final class AsyncLock: Sendable {
    private struct State: ~Copyable {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Creates a free lock.
    public init() {}

    /// Takes the lock, waiting behind earlier callers.
    public func acquire() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                guard state.held else {
                    state.held = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the lock to the next waiter, or frees it.
    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
