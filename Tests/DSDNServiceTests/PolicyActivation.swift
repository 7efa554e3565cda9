import DSDNService

extension CoordinatorNode {
    /// Suspends until the registry has a placement policy active (a first start's publication applied),
    /// woken by each applied height, never by polling.
    func waitUntilPolicyActive() async {
        let heights = await consumer.appliedHeights()
        if await consumer.read({ $0.placementPolicy != nil }) { return }
        for await _ in heights where await consumer.read({ $0.placementPolicy != nil }) { return }
    }
}
