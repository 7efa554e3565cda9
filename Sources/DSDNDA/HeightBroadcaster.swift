import Synchronization

/// Fans new heights out to every live `newHeights()` subscriber of a DA backend. Lock-protected so a
/// subscriber registers synchronously (from a nonisolated call), before the caller's next submit.
package final class HeightBroadcaster: Sendable {
    private struct State {
        var nextID = 0
        var continuations: [Int: AsyncStream<UInt64>.Continuation] = [:]
        var finished = false
    }

    private let state = Mutex(State())

    /// An empty broadcaster.
    package init() {}

    /// A stream that receives every height yielded from now on.
    package func subscribe() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .unbounded)
        guard let id = register(continuation) else { return stream }
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return stream
    }

    /// Registers `continuation` so ``finishAll()`` ends it; `nil` (and the continuation finished) when the
    /// broadcaster has already finished.
    package func register(_ continuation: AsyncStream<UInt64>.Continuation) -> Int? {
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.continuations[id] = continuation
            return id
        }
        if id == nil { continuation.finish() }
        return id
    }

    /// Sends `height` to every subscriber.
    package func yield(_ height: UInt64) {
        let continuations = state.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield(height) }
    }

    /// Ends every stream; later subscribers get a finished stream.
    package func finishAll() {
        let continuations = state.withLock { state in
            state.finished = true
            let all = Array(state.continuations.values)
            state.continuations.removeAll()
            return all
        }
        for continuation in continuations { continuation.finish() }
    }

    /// How many subscribers are registered.
    package var subscriberCount: Int { state.withLock { $0.continuations.count } }

    /// Unregisters a subscriber.
    package func remove(_ id: Int) {
        _ = state.withLock { $0.continuations.removeValue(forKey: id) }
    }
}
