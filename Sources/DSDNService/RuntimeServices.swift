import DSDNRuntime
import Logging
import ServiceLifecycle

/// Follows the DA: runs the consumer until graceful shutdown. A failure retrying cannot fix (pruned
/// history, refused credentials, corrupted storage) marks the coordinator failed and stops the group.
struct ConsumerService: Service {
    let consumer: DAConsumer
    let lifecycle: CoordinatorLifecycle
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await consumer.run() }
        } catch is CancellationError {
            // Graceful shutdown.
        } catch {
            logger.error("consumer stopped: \(error)")
            lifecycle.markFailed("\(error)")
            throw error
        }
        let height = await consumer.appliedHeight
        logger.info("coordinator stopped", metadata: ["applied_height": "\(height)"])
    }
}

/// Posts accepted events to the DA: runs the publisher's loop, and on graceful shutdown makes a final
/// flush bounded by `finalFlushTimeout`; what it cannot post stays in the outbox for the next start.
struct PublisherService: Service {
    let publisher: EventPublisher
    let finalFlushTimeout: Duration
    let logger: Logger

    func run() async throws {
        let publisher = self.publisher
        await cancelWhenGracefulShutdown { await publisher.run() }
        let backlog = await publisher.backlog
        logger.info("coordinator stopping: final flush", metadata: ["backlog": "\(backlog)"])
        let timeout = finalFlushTimeout
        // The flush and a deadline race; the loser is cancelled.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await publisher.stop() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        let left = await publisher.backlog
        if left > 0 {
            logger.warning("final flush incomplete: events stay in the outbox for the next start", metadata: ["events": "\(left)"])
        }
    }
}
