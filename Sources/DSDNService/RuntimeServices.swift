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

/// Posts accepted events to the DA: runs the publisher's loop and, on graceful shutdown, stops it with a
/// final flush bounded by `finalFlushTimeout`; what it cannot post stays in the outbox for the next start.
struct PublisherService: Service {
    let publisher: EventPublisher
    let finalFlushTimeout: Duration
    let logger: Logger

    func run() async throws {
        let publisher = self.publisher
        let timeout = finalFlushTimeout
        await withTaskGroup(of: Void.self) { loop in
            // Returns after stop(), or when cancelled.
            loop.addTask { await publisher.run() }
            try? await gracefulShutdown()
            let backlog = await publisher.backlog
            logger.info("coordinator stopping: final flush", metadata: ["backlog": "\(backlog)"])
            // The final flush and a deadline race; the loser is cancelled.
            await withTaskGroup(of: Void.self) { race in
                race.addTask { await publisher.stop() }
                race.addTask { try? await Task.sleep(for: timeout) }
                await race.next()
                race.cancelAll()
            }
            // A flush the deadline cut short: end the loop too (its own last flush gives up at once).
            loop.cancelAll()
        }
        let left = await publisher.backlog
        if left > 0 {
            logger.warning("final flush incomplete: events stay in the outbox for the next start", metadata: ["events": "\(left)"])
        }
    }
}
