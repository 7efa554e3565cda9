import DSDNCore
import DSDNScheduler
import Logging
import ServiceLifecycle

/// What a coordinator publishes once it has caught up, through the DA like any other event:
/// - the default policy (`CoordinatorConfiguration.defaultPolicy`), published and activated for
///   placement when the namespace's policy registry is empty;
/// - the seed history, when the namespace holds nothing yet.
/// Both in one submission, policy first. Several coordinators starting together may each publish the
/// same policy: republishing the same bytes and activating what is active are no-ops.
struct FirstStartService: Service {
    let node: CoordinatorNode
    let logger: Logger

    func run() async throws {
        let configuration = node.configuration
        guard configuration.defaultPolicy != nil || configuration.seed != nil else { return }
        await cancelWhenGracefulShutdown { await node.waitUntilReady() }
        guard node.phase == .ready else { return }
        let (namespaceEmpty, registryEmpty) = await node.consumer.read { state in
            (state.cursor.lastPosition == nil, state.policyVersions().isEmpty && state.placementPolicy == nil)
        }
        var events: [Event] = []
        var published: String?
        if registryEmpty, let policy = configuration.defaultPolicy {
            events += [.policyPublished(policy.release), .policyActivated(name: policy.name, version: policy.version, role: .placement)]
            published = policy.label
        }
        if let seed = configuration.seed {
            if namespaceEmpty {
                events += seed.events
            } else {
                logger.info("seed skipped: the namespace already holds history", metadata: ["source": "\(seed.source)"])
            }
        }
        guard !events.isEmpty else { return }
        do {
            let acceptance = try await node.submit(events, waitForInclusion: true)
            let fates = acceptance.fates ?? []
            let height = fates.compactMap { fate -> UInt64? in if case let .applied(height, _) = fate { height } else { nil } }.max() ?? 0
            let refused = fates.filter { if case .refused = $0 { true } else { false } }.count
            if let published {
                logger.info("published and activated the default policy \(published)", metadata: ["height": "\(height)"])
            }
            if let seed = configuration.seed, namespaceEmpty {
                logger.info(
                    "seeded from \(seed.source)",
                    metadata: ["events": "\(seed.events.count)", "height": "\(height)", "refused": "\(refused)"])
            }
        } catch {
            if node.phase == .stopping {
                logger.notice("first-start events not yet included at shutdown: they stay in the outbox for the next start")
                return
            }
            logger.error("first-start events refused: \(error)")
            throw FirstStartError(message: "first start: \(error)")
        }
    }
}

/// The first-start submission was refused.
struct FirstStartError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
